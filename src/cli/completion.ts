// `fleet ctl completion bash`: a bash completion script for fleetctl and `fleet ctl`, built from
// the command table so it never lists a flag that does not exist. Pure.
import type { Command } from "./command.ts";
import { GLOBAL_FLAGS } from "./global-flags.ts";
import type { FlagSpec } from "./args.ts";

function flagWords(flags: readonly FlagSpec[]): string[] {
  return flags.filter((f) => !f.hidden).flatMap((f) => (f.short ? [`--${f.name}`, `-${f.short}`] : [`--${f.name}`]));
}

/** Commands whose arguments are unit names, and those that also take local files. */
const UNIT_COMMANDS = ["cat", "destroy", "journal", "restart", "status", "stop", "unload"];
const FILE_COMMANDS = ["load", "start", "submit"];

export function bashCompletion(commands: readonly Command[]): string {
  const visible = commands.filter((c) => !c.hidden && !c.deprecated).map((c) => c.name).sort();
  const valueFlags = [...GLOBAL_FLAGS, ...commands.flatMap((c) => c.flags)]
    .filter((f) => f.type !== "bool")
    .flatMap((f) => (f.short ? [`--${f.name}`, `-${f.short}`] : [`--${f.name}`]));
  const perCommand = commands
    .filter((c) => c.flags.some((f) => !f.hidden))
    .map((c) => `        ${c.name}) flags+=" ${flagWords(c.flags).join(" ")}";;`)
    .join("\n");
  return `# bash completion for fleetctl and "fleet ctl"
# Load it with: source <(fleetctl completion bash)

_fleetctl_list() {
    # Unit names or machine ids from the cluster; silent when fleet cannot be reached.
    "\${_fleetctl_cmd[@]}" "$@" --no-legend 2>/dev/null
}

_fleetctl() {
    local cur="\${COMP_WORDS[COMP_CWORD]}"
    local start=1 i cmd=""
    _fleetctl_cmd=("\${COMP_WORDS[0]}")
    if [[ "\${COMP_WORDS[0]##*/}" == "fleet" ]]; then
        if (( COMP_CWORD == 1 )); then
            COMPREPLY=( $(compgen -W "ctl daemon version help" -- "$cur") )
            return
        fi
        [[ "\${COMP_WORDS[1]}" == "ctl" ]] || return
        start=2
        _fleetctl_cmd=("\${COMP_WORDS[0]}" ctl)
    fi
    for (( i = start; i < COMP_CWORD; i++ )); do
        case "\${COMP_WORDS[i]}" in
            ${valueFlags.join("|")}) (( i++ ));;
            -*) ;;
            *) cmd="\${COMP_WORDS[i]}"; break;;
        esac
    done
    if [[ "$cur" == -* ]]; then
        local flags="${flagWords(GLOBAL_FLAGS).join(" ")}"
        case "$cmd" in
${perCommand}
        esac
        COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
        return
    fi
    case "$cmd" in
        "") COMPREPLY=( $(compgen -W "${visible.join(" ")}" -- "$cur") );;
        help) COMPREPLY=( $(compgen -W "${visible.join(" ")}" -- "$cur") );;
        completion) COMPREPLY=( $(compgen -W "bash" -- "$cur") );;
        ${FILE_COMMANDS.join("|")})
            COMPREPLY=( $(compgen -f -- "$cur") $(compgen -W "$(_fleetctl_list list-unit-files --fields unit)" -- "$cur") );;
        ${UNIT_COMMANDS.join("|")})
            COMPREPLY=( $(compgen -W "$(_fleetctl_list list-unit-files --fields unit)" -- "$cur") );;
        update)
            COMPREPLY=( $(compgen -f -- "$cur") );;
        rollout)
            if [[ "\${COMP_WORDS[COMP_CWORD-1]}" == "rollout" ]]; then
                COMPREPLY=( $(compgen -W "status pause resume abort" -- "$cur") )
            else
                COMPREPLY=( $(compgen -W "$(_fleetctl_list rollout status | awk '{print $1}')" -- "$cur") )
            fi;;
        drain|undrain)
            COMPREPLY=( $(compgen -W "$(_fleetctl_list list-machines --full --fields machine)" -- "$cur") );;
        ssh)
            COMPREPLY=( $(compgen -W "$(_fleetctl_list list-machines --full --fields machine) $(_fleetctl_list list-unit-files --fields unit)" -- "$cur") );;
    esac
}

complete -o default -F _fleetctl fleetctl
complete -o default -F _fleetctl fleet
`;
}
