// Export forms. A long export (diagrams, atlas, whole-city register, filing package) is a
// background job: the request answers at once with the job (202, or 200 when the same
// export of unchanged data is stored already), this script polls its status URL, shows the
// job's steps ("3/11 网格图集") and starts the download when it is done. Quick exports (one
// grid's register, the roster) come back as the file itself. Without JavaScript the forms
// still work: the server then answers with a status page that reloads itself. Starting a job
// is a write: the forms post, with the CSRF token.
(function () {
  "use strict";

  var POLL_MS = 1000;

  function fileName(response, fallback) {
    var header = response.headers.get("Content-Disposition") || "";
    var star = /filename\*=UTF-8''([^;]+)/i.exec(header);
    if (star) { return decodeURIComponent(star[1]); }
    var plain = /filename="?([^";]+)"?/i.exec(header);
    return plain ? plain[1] : fallback;
  }

  function errorText(body, status) {
    // Errors of the export endpoints are JSON ({message}); anything else an HTML page.
    try { return JSON.parse(body).message || ("HTTP " + status); } catch (e) { /* HTML */ }
    var doc = new DOMParser().parseFromString(body, "text/html");
    var p = doc.querySelector(".error-page p");
    return p ? p.textContent : "HTTP " + status;
  }

  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : "";
  }

  function seconds(started) { return Math.round((Date.now() - started) / 1000); }

  function megabytes(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }

  function download(href, name) {
    var link = document.createElement("a");
    link.href = href;
    link.download = name || "";
    document.body.appendChild(link);
    link.click();
    window.setTimeout(function () {
      if (href.indexOf("blob:") === 0) { URL.revokeObjectURL(href); }
      link.remove();
    }, 60000);
  }

  function jobText(job, started) {
    var where = job.status === "queued" ? "排队中" : "正在生成";
    var step = job.progress ? "：" + job.progress : "";
    return where + step + "（已用 " + seconds(started) + " 秒）";
  }

  function setUp(form) {
    var button = form.querySelector("button[type=submit]");
    var status = document.createElement("div");
    status.className = "export-status";
    status.setAttribute("role", "status");
    form.parentNode.appendChild(status);

    function show(kind, text) {
      status.className = "export-status " + kind;
      status.textContent = text;
    }

    function finish() { button.disabled = false; }

    function fail(message) {
      show("failed", "生成失败：" + message);
      finish();
    }

    function delivered(job, started, stored) {
      download(job.download_url, job.file_name);
      show("done", (stored ? "数据未变，直接取用已生成的文件：" : "已生成并开始下载：") + job.file_name + "（"
           + megabytes(job.size) + "，用时 " + seconds(started) + " 秒）");
      status.setAttribute("data-job-id", String(job.id));
      finish();
    }

    function follow(job, started) {
      if (job.status === "done") { delivered(job, started, false); return; }
      if (job.status === "failed") { fail(job.error || "未知错误"); return; }
      show("busy", jobText(job, started));
      window.setTimeout(function () {
        fetch(job.status_url, {credentials: "same-origin", headers: {Accept: "application/json"}})
          .then(function (response) {
            return response.text().then(function (body) {
              if (!response.ok) { throw new Error(errorText(body, response.status)); }
              follow(JSON.parse(body), started);
            });
          })
          .catch(function (error) { fail(error.message); });
      }, POLL_MS);
    }

    function receivedFile(response, started) {
      return response.blob().then(function (blob) {
        var name = fileName(response, "download");
        download(URL.createObjectURL(blob), name);
        show("done", "已生成并开始下载：" + name + "（" + megabytes(blob.size) + "，用时 " + seconds(started) + " 秒）");
        finish();
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var started = Date.now();
      button.disabled = true;
      show("busy", "正在提交…");
      // A POST with the form (its csrf_token field) and the token header as every write.
      fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin",
                          headers: {Accept: "application/json", "X-CSRFToken": csrfToken()}})
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (!response.ok) {
            return response.text().then(function (body) { throw new Error(errorText(body, response.status)); });
          }
          if (type.indexOf("application/json") !== 0) { return receivedFile(response, started); }
          return response.json().then(function (job) {
            if (job.status === "done" && job.stored) { delivered(job, started, true); } else { follow(job, started); }
          });
        })
        .catch(function (error) { fail(error.message); });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.export-form"), setUp);
})();
