// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    const button = select.form && select.form.querySelector("button[type=submit]");
    if (button) button.classList.add("visually-hidden");
    select.addEventListener("change", () => select.form.submit());
  }
});
