// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    const button = select.form && select.form.querySelector("button[type=submit]");
    if (button) button.classList.add("visually-hidden");
    select.addEventListener("change", () => select.form.submit());
  }
  // A print button (receipts): the browser's own print dialog.
  for (const button of document.querySelectorAll("button[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
  // A button that places an order or pays is pressed once; the server makes one order of a
  // second press anyway (the form's key), this spares the family the wait.
  for (const button of document.querySelectorAll("button[data-once]")) {
    button.form.addEventListener("submit", () => {
      setTimeout(() => { button.disabled = true; }, 0);
    });
  }
});
