// A second subgraph for the federation test: reviews, each referencing dbmesh's Customer by id
// (an entity stub it cannot resolve itself). `node reviews.mjs '<reviews as JSON>'` prints
// "reviews ready at URL" (a free port). Reviews: [{"id", "body", "customerId"}].
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import gql from "graphql-tag";

const reviews = JSON.parse(process.argv[2]);
const typeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Review {
    id: ID!
    body: String!
    author: Customer!
  }

  type Customer @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type Query {
    reviews: [Review!]!
  }
`;
const resolvers = {
  Query: { reviews: () => reviews },
  Review: { author: (review) => ({ __typename: "Customer", id: review.customerId }) },
};
const server = new ApolloServer({ schema: buildSubgraphSchema({ typeDefs, resolvers }) });
const { url } = await startStandaloneServer(server, { listen: { port: 0, host: "127.0.0.1" } });
console.log(`reviews ready at ${url}`);
