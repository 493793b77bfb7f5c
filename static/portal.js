// Developer portal: "Copy" buttons next to the client ID, the one-time secret and the Connect
// tab's snippets (an input's value, or a <pre>'s text).
// Loaded from 'self' (the CSP allows no inline script); without JavaScript the fields stay
// selectable by hand.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  try {
    await navigator.clipboard.writeText(field.value ?? field.textContent);
  } catch {
    if (field.select) {
      field.select();
    } else {
      window.getSelection().selectAllChildren(field);
    }
    document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 2000);
});
