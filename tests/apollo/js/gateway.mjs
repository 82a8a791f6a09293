// An Apollo Gateway composing dbmesh (a real router) with the reviews subgraph (reviews.mjs), by
// IntrospectAndCompose: `node gateway.mjs DBMESH_URL REVIEWS_URL`. Prints "gateway ready at URL"
// (a free port) once composed; composition errors end the process with status 1.
import { ApolloGateway, IntrospectAndCompose } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

const [dbmesh, reviews] = process.argv.slice(2);
const gateway = new ApolloGateway({
  supergraphSdl: new IntrospectAndCompose({
    subgraphs: [
      { name: "dbmesh", url: dbmesh },
      { name: "reviews", url: reviews },
    ],
  }),
});
try {
  const server = new ApolloServer({ gateway });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: "127.0.0.1" } });
  console.log(`gateway ready at ${url}`);
} catch (error) {
  console.error(`gateway failed: ${error.message}`);
  process.exit(1);
}
