// The confirmation every action asks for: a modal <dialog> (focus moves into it, Escape cancels,
// and focus returns to the button that opened it).
import { byId } from "./dom.ts";

export function confirmAction(question: string, label: string, danger: boolean): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>("confirm");
  const ok = byId<HTMLButtonElement>("confirm-ok");
  const cancel = byId<HTMLButtonElement>("confirm-cancel");
  byId("confirm-text").textContent = question;
  byId("confirm-title").textContent = `${label}?`;
  ok.textContent = label;
  ok.classList.toggle("danger", danger);
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
  return new Promise((resolve) => {
    const done = (answer: boolean) => {
      ok.removeEventListener("click", yes);
      cancel.removeEventListener("click", no);
      dialog.removeEventListener("cancel", no);
      if (dialog.open) dialog.close();
      opener?.focus();
      resolve(answer);
    };
    const yes = () => done(true);
    const no = (ev?: Event) => {
      ev?.preventDefault();
      done(false);
    };
    ok.addEventListener("click", yes);
    cancel.addEventListener("click", no);
    dialog.addEventListener("cancel", no);
    dialog.showModal();
    cancel.focus();
  });
}
