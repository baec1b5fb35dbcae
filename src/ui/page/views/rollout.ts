// The unit view's rolling update: the running or last rollout of the unit (or of its template),
// its state, versions, progress and policy, its actions, and its steps as the engine logged them.
import { policyText } from "../../../rollout/view.ts";
import { rolloutFrom, rolloutProgress, rolloutTone } from "../../model/rollouts.ts";
import { formatAge } from "../../model/view.ts";
import { h } from "../dom.ts";
import { actionButtons, shortHash, toneBadge, unitLink, type ViewContext } from "./common.ts";

/** How many of the latest steps the view lists (the API keeps the last 100). */
const STEPS_SHOWN = 30;

export function rolloutSection(ctx: ViewContext, unit: string): HTMLElement | false {
  const r = ctx.store.rollouts.forUnit(unit);
  if (!r) return false;
  const { onNew, total } = rolloutProgress(r);
  const from = rolloutFrom(r);
  const facts: [string, Node | string | (Node | string)[]][] = [
    ["State", toneBadge(rolloutTone(r.state), r.state)],
    ["Version", h("span", { class: "mono", title: `${from.join(", ")} -> ${r.to}` }, `${from.length ? from.map(shortHash).join(", ") : "-"} -> ${shortHash(r.to)}`)],
    ["Progress", `${onNew} of ${total} instance${total === 1 ? "" : "s"} on the new version`],
    ["Policy", policyText(r.policy)],
  ];
  if (r.unit !== unit) facts.unshift(["Rollout of", unitLink(r.unit)]);
  if (r.createdAt) facts.push(["Started", `${formatAge(ctx.now() - Date.parse(r.createdAt))} ago (${r.createdAt})`]);
  const steps = r.log.slice(-STEPS_SHOWN).reverse();
  return h(
    "section",
    { class: "rollout", "aria-labelledby": "rollout-title" },
    h("h2", { id: "rollout-title" }, "Rolling update"),
    actionButtons(ctx, "rollout", r.unit, { rolloutState: r.state }),
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    h("h3", {}, "Steps"),
    steps.length === 0
      ? h("p", { class: "empty" }, "None yet.")
      : h("ol", { class: "events", "aria-label": `Steps of the rollout of ${r.unit}` }, steps.map((s) => h("li", {}, h("span", { class: "rev mono" }, String(s.n)), s.text))),
  );
}
