// Apollo Client's automatic persisted queries against dbmesh: `node apq.mjs URL QUERY [get]` runs
// QUERY twice (network-only) through createPersistedQueryLink (SHA-256 from Node's crypto) over
// an HttpLink; with `get`, hashed queries go as GET (useGETForHashedQueries). Prints one JSON line:
// {"results": [data, data], "requests": [{"method", "query", "hash"}, ...]}, every HTTP request
// the client sent, in order ("query": the query text it carried, or null).
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client/core/index.js";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries/index.js";

const [url, text, mode] = process.argv.slice(2);
const requests = [];
async function recording(input, init) {
  const target = new URL(typeof input === "string" ? input : input.url);
  const method = init?.method ?? "GET";
  const payload = method === "GET"
    ? { query: target.searchParams.get("query"), extensions: JSON.parse(target.searchParams.get("extensions")) }
    : JSON.parse(init.body);
  requests.push({ method, query: payload.query ?? null, hash: payload.extensions?.persistedQuery?.sha256Hash ?? null });
  return fetch(input, init);
}
const persisted = createPersistedQueryLink({
  sha256: (query) => createHash("sha256").update(query).digest("hex"),
  useGETForHashedQueries: mode === "get",
});
const client = new ApolloClient({
  link: persisted.concat(new HttpLink({ uri: url, fetch: recording })),
  cache: new InMemoryCache(),
});
const results = [];
for (let i = 0; i < 2; i++) {
  const { data } = await client.query({ query: gql(text), fetchPolicy: "network-only" });
  results.push(data);
}
console.log(JSON.stringify({ results, requests }));
