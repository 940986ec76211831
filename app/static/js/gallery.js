// The gallery without a framework: more photos while scrolling, and a viewer that answers
// the arrow keys, Escape and swipes. Every page works without this file (links and forms).
"use strict";

function setUpGrid(grid) {
  const more = document.querySelector("[data-more]");
  const template = grid.querySelector("form[data-add-to-cart]");
  let next = grid.dataset.nextAfter;
  let loading = false;

  function addItem(photo) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = photo.view;
    const image = document.createElement("img");
    image.src = photo.thumbnail;
    image.alt = "";
    image.loading = "lazy";
    image.width = 400;
    image.height = 300;
    link.append(image);
    item.append(link);
    if (template) {
      const form = template.cloneNode(true);
      form.querySelector("input[name=photo_id]").value = String(photo.id);
      item.append(form);
    }
    grid.append(item);
  }

  async function loadMore() {
    if (loading || !next) return;
    loading = true;
    const url = new URL(grid.dataset.moreUrl, window.location.href);
    url.searchParams.set("after", next);
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return;
      const page = await response.json();
      page.photos.forEach(addItem);
      next = page.next_after ? String(page.next_after) : "";
      if (!next && more) more.parentElement.remove();
    } finally {
      loading = false;
    }
  }

  if (more && "IntersectionObserver" in window) {
    more.addEventListener("click", (event) => { event.preventDefault(); loadMore(); });
    new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) loadMore();
    }, { rootMargin: "600px" }).observe(more);
  }
}

function setUpViewer(viewer) {
  const go = (url) => { if (url) window.location.assign(url); };
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea")) return;
    if (event.key === "ArrowLeft") go(viewer.dataset.previous);
    else if (event.key === "ArrowRight") go(viewer.dataset.next);
    else if (event.key === "Escape") go(viewer.dataset.back);
  });
  const image = viewer.querySelector("[data-preview]");
  let startX = null;
  let startY = null;
  image.addEventListener("touchstart", (event) => {
    startX = event.touches[0].clientX;
    startY = event.touches[0].clientY;
  }, { passive: true });
  image.addEventListener("touchend", (event) => {
    if (startX === null) return;
    const dx = event.changedTouches[0].clientX - startX;
    const dy = event.changedTouches[0].clientY - startY;
    startX = null;
    if (Math.abs(dx) < 50 || Math.abs(dx) < Math.abs(dy)) return;
    go(dx > 0 ? viewer.dataset.previous : viewer.dataset.next);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const grid = document.querySelector("[data-grid]");
  if (grid) setUpGrid(grid);
  const viewer = document.querySelector("[data-viewer]");
  if (viewer) setUpViewer(viewer);
});
