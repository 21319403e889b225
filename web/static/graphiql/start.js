// Starts GraphiQL (embedded in merchd, no CDN) against this server's
// /query, over HTTP and, for subscriptions, its websocket. A token saved in
// localStorage as "merchd.token" (the storefront's, or one pasted in the
// Headers tab) is sent as the bearer. ?query=… opens with that query.
(function () {
  "use strict";
  var url = location.origin + "/query";
  var ws = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/query";
  var token = null;
  try { token = localStorage.getItem("merchd.token"); } catch (e) { /* storage off */ }
  var headers = token ? { Authorization: "Bearer " + token } : {};
  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: ws, headers: headers });
  var params = new URLSearchParams(location.search);
  var props = { fetcher: fetcher, defaultEditorToolsVisibility: true, shouldPersistHeaders: false };
  if (params.get("query")) props.query = params.get("query");
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
