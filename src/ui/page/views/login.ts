// The sign-in form of a TCP listener that needs a token. The token goes into sessionStorage (this
// tab only) and into the Authorization header of each request; the form is never submitted to a
// URL (the Content-Security-Policy forbids it), so the token cannot end up in one or in a log.
import { h } from "../dom.ts";

export function renderLogin(main: HTMLElement, opts: { message?: string; signIn: (token: string) => Promise<string | undefined> }): void {
  const input = h("input", { id: "token", type: "password", name: "token", autocomplete: "current-password", required: true, spellcheck: "false", "aria-describedby": "token-help" });
  const error = h("p", { id: "login-error", class: "error", role: "alert" }, opts.message ?? "");
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "login",
      "aria-labelledby": "login-title",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const token = input.value.trim();
        if (!token) return;
        button.disabled = true;
        error.textContent = "";
        void opts.signIn(token).then((refused) => {
          button.disabled = false;
          if (refused) {
            error.textContent = refused;
            input.select();
          }
        });
      },
    },
    h("h1", { id: "login-title" }, "Sign in to fleet"),
    h(
      "p",
      { id: "token-help" },
      "This API listener needs a token: one of the daemon's api_tokens (in a sandbox, FLEETCTL_TOKEN from its env file). ",
      "It is kept in this tab only and sent with each request, never in a URL.",
    ),
    h("label", { for: "token" }, "API token"),
    input,
    button,
    error,
  );
  main.replaceChildren(form);
  input.focus();
}
