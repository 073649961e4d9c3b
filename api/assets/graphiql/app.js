// Starts GraphiQL against this server: queries and mutations over HTTP, subscriptions
// over /graphql/ws. Headers typed in the Headers tab (e.g. {"Authorization": "Bearer …"})
// go with every request and in the socket's connection_init.
(function () {
  var socket = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql/ws";
  var fetcher = GraphiQL.createFetcher({ url: location.origin + "/graphql", subscriptionUrl: socket });
  var start =
    "# Welcome to CronOps. Log in, then put the token in the Headers tab:\n" +
    '#   {"Authorization": "Bearer <accessToken>"}\n' +
    "mutation LogIn {\n" +
    '  login(email: "demo@cronops.dev", password: "Password123!") { accessToken }\n' +
    "}\n\n" +
    "query MyJobs {\n  jobs(first: 20) { totalCount edges { node { id name cronExpression status } } }\n}\n";
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: start,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
    })
  );
})();
