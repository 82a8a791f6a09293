from uuid import UUID
from dbmesh import types, database

@types.object
class Customer:                      # table "customers" in whichever database serves it
    id: UUID
    email: str
    name: str

    @database('mysql_historical')    # a relation served by another database
    def all_orders(self) -> list['Order']: ...

@types.object
class Order:
    id: UUID
    customer_id: UUID
    order_date: str
    total_amount: float

@types.object
class Query:
    @database('postgres_primary', fallback='sqlite_cache')
    def customers(self, limit: int = 50) -> list[Customer]: ...

    @database('postgres_primary')
    def customer(self, id: str) -> Customer | None: ...
