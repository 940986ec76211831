// Progressive enhancement of the suspect upload: paste an image from the clipboard, and
// show which step the search is in while it runs (it takes seconds). The form works
// without this file.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-investigate]");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const status = form.querySelector("[data-investigate-status]");
  const button = form.querySelector("button[type=submit]");
  const keyField = form.querySelector("input[data-progress-key]");

  document.addEventListener("paste", (event) => {
    const files = event.clipboardData ? event.clipboardData.files : null;
    if (!input || !files || files.length === 0 || !files[0].type.startsWith("image/")) return;
    const transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    if (status) status.textContent = form.dataset.pasted || "";
    event.preventDefault();
  });

  const newKey = () => {
    const bytes = new Uint8Array(18);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  };

  form.addEventListener("submit", () => {
    if (button) button.disabled = true;
    if (!status) return;
    const key = keyField ? newKey() : "";
    if (keyField) keyField.value = key;
    const started = Date.now();
    let step = form.dataset.searching || "";
    const show = () => {
      const seconds = Math.floor((Date.now() - started) / 1000);
      status.textContent = `${step} ${seconds} s`;
    };
    // The page stays alive until the verdict arrives: ask the server which step it is in.
    const poll = async () => {
      if (!key || !form.dataset.progressUrl) return;
      try {
        const answer = await fetch(form.dataset.progressUrl.replace("KEY", key), {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (answer.ok) {
          const state = await answer.json();
          if (state.label) {
            const prefix = (form.dataset.stepOf || "")
              .replace("NUMBER", String(state.number))
              .replace("OF", String(state.of));
            step = state.number <= state.of ? `${prefix} ${state.label}` : state.label;
            status.dataset.step = state.step;
            show();
          }
        }
      } catch (error) {
        // Progress is a courtesy; the search goes on without it.
      }
    };
    show();
    setInterval(show, 1000);
    setInterval(poll, 700);
  });
});
