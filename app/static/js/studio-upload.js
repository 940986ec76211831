// Studio uploads: drag and drop or pick files, one request per file with its own progress
// bar, an overall bar, a plain-language result per file, and retry for what failed.
// Without this script the form still posts every chosen file at once.
"use strict";

(() => {
  const PARALLEL = 2;
  const POLL_MS = 1500;
  const POLL_LIMIT = 200;

  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const dropzone = form.querySelector("[data-dropzone]");
  const submit = form.querySelector("[data-upload-submit]");
  const list = document.getElementById("upload-results");
  const panel = document.getElementById("upload-progress");
  const overall = document.getElementById("upload-overall");
  const summary = document.getElementById("upload-summary");
  const text = form.dataset;
  const maxBytes = Number(text.maxBytes);

  const items = [];
  const waiting = [];
  let running = 0;

  const urlFor = (template, id) => template.replace(/\/0(?=\/|$)/, `/${id}`);
  const csrfToken = () => form.querySelector("input[name=csrf_token]").value;

  function field(tag, className, content) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (content !== undefined) element.textContent = content;
    return element;
  }

  function updateSummary() {
    let loaded = 0;
    let total = 0;
    const counts = { done: 0, ready: 0, refused: 0, errors: 0 };
    for (const item of items) {
      total += item.file.size;
      loaded += item.finished ? item.file.size : item.loaded;
      if (item.finished) counts.done += 1;
      if (item.outcome === "accepted") counts.ready += 1;
      if (item.outcome === "refused") counts.refused += 1;
      if (item.outcome === "error" || item.outcome === "failed") counts.errors += 1;
    }
    overall.value = total ? Math.round((100 * loaded) / total) : 0;
    summary.textContent = text.textSummary
      .replace("{done}", counts.done)
      .replace("{total}", items.length)
      .replace("{ready}", counts.ready)
      .replace("{refused}", counts.refused)
      .replace("{errors}", counts.errors);
  }

  function show(item, outcome, message, retry) {
    item.outcome = outcome;
    item.row.dataset.outcome = outcome;
    item.status.textContent = message;
    item.action.replaceChildren();
    if (retry) {
      const button = field("button", "button-small", text.textRetry);
      button.type = "button";
      button.addEventListener("click", retry);
      item.action.append(button);
    }
    updateSummary();
  }

  function finish(item, outcome, message, retry) {
    item.finished = true;
    item.bar.value = 100;
    show(item, outcome, message, retry);
  }

  function followProcessing(item, photoId, attempt = 0) {
    fetch(urlFor(text.photoUrl, photoId), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((photo) => showPhoto(item, photo, attempt))
      .catch(() => {
        if (attempt < POLL_LIMIT) {
          setTimeout(() => followProcessing(item, photoId, attempt + 1), POLL_MS);
        }
      });
  }

  function retryProcessing(item, photoId) {
    const body = new FormData();
    body.append("csrf_token", csrfToken());
    show(item, "accepted", text.textProcessing);
    fetch(urlFor(text.retryUrl, photoId), {
      method: "POST",
      body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then((response) => response.json())
      .then((photo) => showPhoto(item, photo, 0))
      .catch(() => show(item, "error", `${text.textError} ${text.textNetwork}`));
  }

  function showPhoto(item, photo, attempt) {
    if (photo.status === "ready") {
      show(item, "accepted", text.textReady);
    } else if (photo.status === "failed") {
      const reason = photo.failure ? photo.failure.reason : "";
      show(item, "failed", `${text.textFailed} ${reason}`, () => retryProcessing(item, photo.id));
    } else if (attempt < POLL_LIMIT) {
      show(item, "accepted", text.textProcessing);
      setTimeout(() => followProcessing(item, photo.id, attempt + 1), POLL_MS);
    }
  }

  function handleResponse(item, xhr) {
    let body = null;
    try {
      body = JSON.parse(xhr.responseText);
    } catch (_error) {
      body = null;
    }
    if (xhr.status === 201 && body && body.photo) {
      finish(item, "accepted", text.textProcessing);
      showPhoto(item, body.photo, 0);
    } else if (xhr.status === 200 && body && body.result === "duplicate") {
      finish(item, "refused", body.reason);
    } else if (xhr.status === 422 && body) {
      finish(item, "refused", `${text.textRejected} ${body.reason}`);
    } else if (xhr.status === 413) {
      finish(item, "refused", `${text.textRejected} ${text.textTooLarge}`);
    } else {
      const message = body && body.message ? body.message : `HTTP ${xhr.status}`;
      finish(item, "error", `${text.textError} ${message}`, () => requeue(item));
    }
  }

  function send(item) {
    running += 1;
    item.finished = false;
    item.loaded = 0;
    show(item, "uploading", text.textUploading);
    const body = new FormData();
    body.append("csrf_token", csrfToken());
    const album = form.querySelector("select[name=album_id]");
    if (album && album.value) body.append("album_id", album.value);
    body.append("file", item.file, item.file.name);

    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      item.loaded = Math.min(item.file.size, (item.file.size * event.loaded) / event.total);
      item.bar.value = Math.round((100 * event.loaded) / event.total);
      updateSummary();
    });
    xhr.addEventListener("load", () => handleResponse(item, xhr));
    xhr.addEventListener("error", () =>
      finish(item, "error", `${text.textError} ${text.textNetwork}`, () => requeue(item)),
    );
    xhr.addEventListener("loadend", () => {
      running -= 1;
      pump();
    });
    xhr.send(body);
  }

  function pump() {
    while (running < PARALLEL && waiting.length) send(waiting.shift());
  }

  function requeue(item) {
    item.finished = false;
    item.loaded = 0;
    item.bar.value = 0;
    show(item, "waiting", text.textWaiting);
    waiting.push(item);
    pump();
  }

  function add(files) {
    panel.hidden = false;
    for (const file of files) {
      const row = field("li", "upload-row");
      const name = field("span", "upload-name", file.name);
      const bar = field("progress", "upload-bar");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", file.name);
      const status = field("span", "upload-status");
      status.setAttribute("role", "status");
      const action = field("span", "upload-action");
      row.append(name, bar, status, action);
      list.append(row);
      const item = { file, row, bar, status, action, loaded: 0, finished: false, outcome: "" };
      items.push(item);
      if (file.size > maxBytes) {
        // Refused here already: sending it would only be refused by the server.
        finish(item, "refused", `${text.textRejected} ${text.textTooLarge}`);
      } else {
        show(item, "waiting", text.textWaiting);
        waiting.push(item);
      }
    }
    updateSummary();
    pump();
  }

  // Files start uploading as soon as they are chosen or dropped; the button is for
  // browsers without this script.
  submit.remove();
  input.addEventListener("change", () => {
    add(Array.from(input.files));
    input.value = "";
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    add(Array.from(input.files));
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    dropzone.addEventListener(name, (event) => {
      event.preventDefault();
      dropzone.classList.add("dropzone-active");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    dropzone.addEventListener(name, () => dropzone.classList.remove("dropzone-active"));
  }
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      add(Array.from(event.dataTransfer.files));
    }
  });
})();
