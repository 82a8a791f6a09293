# federation_schema.py
from dbmesh import types, database

@types.object
class Customer:
    """Primary customer data from PostgreSQL"""
    id: UUID  # UUID v4 for GraphQL ID
    email: str
    name: str
    created_at: str

    @database('postgres_primary')
    def details(self) -> 'CustomerDetails':
        """Detailed info from PostgreSQL"""
        pass

    @database('mysql_historical')
    def historical_orders(self, year: int) -> list['Order']:
        """Orders from historical MySQL database"""
        pass

@types.object
class CustomerDetails:
    customer_id: UUID  # UUID v4 for GraphQL ID
    phone: str
    address: str
    preferred_timezone: str

@types.object
class Order:
    id: UUID  # UUID v4 for GraphQL ID
    customer_id: UUID  # UUID v4 for GraphQL ID
    order_date: str
    total_amount: float

    # Can load items from different database
    @database('mysql_historical')
    def items(self) -> list['OrderItem']:
        """Order line items"""
        pass

@types.object
class OrderItem:
    order_id: UUID  # UUID v4 for GraphQL ID
    product_id: UUID  # UUID v4 for GraphQL ID
    quantity: int
    price: float

@types.object
class Query:
    @database('postgres_primary')
    def customer(self, id: str) -> Customer:
        """Get customer from primary database"""
        pass

    def customer_with_history(self, id: str) -> 'CustomerWithHistory':
        """Composite type from multiple databases"""
        pass

    @database('postgres_primary', fallback='sqlite_cache')
    def customers(self, limit: int = 50) -> list[Customer]:
        """Query primary, fallback to cache"""
        pass
