// Progressive enhancement of the suspect upload: paste an image from the clipboard, and
// show that the search is running (it takes seconds). The form works without this file.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-investigate]");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const status = form.querySelector("[data-investigate-status]");
  const button = form.querySelector("button[type=submit]");

  document.addEventListener("paste", (event) => {
    const files = event.clipboardData ? event.clipboardData.files : null;
    if (!input || !files || files.length === 0 || !files[0].type.startsWith("image/")) return;
    const transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    if (status) status.textContent = form.dataset.pasted || "";
    event.preventDefault();
  });

  form.addEventListener("submit", () => {
    if (button) button.disabled = true;
    if (!status) return;
    const started = Date.now();
    const searching = form.dataset.searching || "";
    const tick = () => {
      const seconds = Math.floor((Date.now() - started) / 1000);
      status.textContent = `${searching} ${seconds} s`;
    };
    tick();
    setInterval(tick, 1000);
  });
});
