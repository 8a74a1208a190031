// The conversion page: saves the converted table the page carries as a CSV file.
// The server keeps nothing, so the file is built here from the page itself (base64, so that
// its bytes, BOM and CRLF line ends included, are exactly what the server wrote).
(function () {
  "use strict";

  function save(button) {
    var binary = atob(button.getAttribute("data-csv") || "");
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    var url = URL.createObjectURL(new Blob([bytes], { type: "text/csv;charset=utf-8" }));
    var link = document.createElement("a");
    link.href = url;
    link.download = button.getAttribute("data-filename") || "converted.csv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  function init() {
    var button = document.getElementById("download-result");
    if (!button) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () { save(button); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
