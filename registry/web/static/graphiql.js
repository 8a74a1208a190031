// GraphiQL on /graphql, from files this server serves (static/vendor/): nothing is loaded
// from another host, so the page works on a network without Internet access.
(function () {
  "use strict";
  var EXAMPLE = "# GraphiQL: write a query on the left, run it with Ctrl-Enter.\n" +
    "# The registry's schema is in the Docs panel; without a token only reads work.\n" +
    "{\n  codeLists {\n    key\n  }\n}\n";

  // The query and variables live in the address, so a page can be shared as a link.
  var parameters = {};
  window.location.search.slice(1).split("&").forEach(function (entry) {
    var eq = entry.indexOf("=");
    if (eq >= 0) {
      parameters[decodeURIComponent(entry.slice(0, eq))] = decodeURIComponent(entry.slice(eq + 1));
    }
  });

  function updateURL(data) {
    Object.assign(parameters, data);
    var search = Object.keys(parameters).filter(function (key) {
      return Boolean(parameters[key]);
    }).map(function (key) {
      return encodeURIComponent(key) + "=" + encodeURIComponent(parameters[key]);
    }).join("&");
    history.replaceState(null, "", "?" + search);
  }

  // No subscriptionUrl: the registry offers no subscriptions, so no WebSocket is opened.
  var fetcher = GraphiQL.createFetcher({ url: window.location.href.split("?")[0] });
  var explorer = GraphiQLPluginExplorer.explorerPlugin();

  function App() {
    var query = React.useState(parameters.q || EXAMPLE);
    var variables = React.useState(parameters.variables);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorer],
      query: query[0],
      variables: variables[0],
      onEditQuery: function (value) { query[1](value); updateURL({ q: value }); },
      onEditVariables: function (value) { variables[1](value); updateURL({ variables: value }); },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
