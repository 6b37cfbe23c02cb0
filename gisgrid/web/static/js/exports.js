// Export forms: fetch the file in the background, say what is happening, then hand it to
// the browser as a download.  A filing package takes half a minute to build: without
// this the page gives no sign of life after the click.  Without JavaScript the forms
// still work as plain GET downloads.
(function () {
  "use strict";

  function fileName(response, fallback) {
    var header = response.headers.get("Content-Disposition") || "";
    var star = /filename\*=UTF-8''([^;]+)/i.exec(header);
    if (star) { return decodeURIComponent(star[1]); }
    var plain = /filename="?([^";]+)"?/i.exec(header);
    return plain ? plain[1] : fallback;
  }

  function errorText(body, status) {
    // Error pages are HTML (Chinese message in the page's <p>), API errors JSON.
    try { return JSON.parse(body).message || ("HTTP " + status); } catch (e) { /* HTML */ }
    var doc = new DOMParser().parseFromString(body, "text/html");
    var p = doc.querySelector(".error-page p");
    return p ? p.textContent : "HTTP " + status;
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.export-form"), function (form) {
    var button = form.querySelector("button[type=submit]");
    var status = document.createElement("div");
    status.className = "export-status";
    status.setAttribute("role", "status");
    form.parentNode.appendChild(status);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var query = new URLSearchParams(new FormData(form)).toString();
      var url = form.action + (query ? "?" + query : "");
      var started = Date.now();
      button.disabled = true;
      status.className = "export-status busy";
      status.textContent = "正在生成，请稍候…";
      var timer = window.setInterval(function () {
        status.textContent = "正在生成，请稍候…（已用 " + Math.round((Date.now() - started) / 1000) + " 秒）";
      }, 1000);
      fetch(url, {credentials: "same-origin"})
        .then(function (response) {
          if (!response.ok) {
            return response.text().then(function (body) { throw new Error(errorText(body, response.status)); });
          }
          return response.blob().then(function (blob) {
            var name = fileName(response, "download");
            var link = document.createElement("a");
            link.href = URL.createObjectURL(blob);
            link.download = name;
            document.body.appendChild(link);
            link.click();
            window.setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 60000);
            status.className = "export-status done";
            status.textContent = "已生成并开始下载：" + name + "（" + (blob.size / 1048576).toFixed(1) + " MB，用时 "
              + Math.round((Date.now() - started) / 1000) + " 秒）";
          });
        })
        .catch(function (error) {
          status.className = "export-status failed";
          status.textContent = "生成失败：" + error.message;
        })
        .then(function () {
          window.clearInterval(timer);
          button.disabled = false;
        });
    });
  });
})();
