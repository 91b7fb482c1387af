# bash completion for fieldsync and fieldsync-server.
#
# Installed as share/bash-completion/completions/fieldsync and
# .../fieldsync-server; or source it from ~/.bashrc:
#   . /usr/local/share/bash-completion/completions/fieldsync
#
# It keeps no list of its own: the commands, subcommands and options it
# offers are read from the programs' own --help, so it is true to the
# installed version.  A word that is not a command of the level reached
# (an id, a name) ends the descent; the options offered are those of the
# deepest command reached.

# The words of one --help: subcommands (the first word of each line of a
# "Commands:" section, and the alternatives a|b|c of the usage line right
# after the words already typed) and options (every --name it mentions).
_fieldsync_help_words() {
  local kind=$1 text=$2 typed=${3-}
  if [[ $kind == options ]]; then
    grep -o -- '--[a-z][a-z0-9-]*' <<<"$text" | sort -u
    return
  fi
  awk -v typed="$typed" '
    BEGIN { n = split(typed, t, " ") }
    /^Commands:/ { incmd = 1; next }
    incmd && /^$/ { incmd = 0 }
    incmd && /^  [a-z]/ { print $1 }
    # "Usage: fieldsync order ..." and its continuation lines: the word
    # after the program and the words typed, alternatives a|b|c or [a]
    /^Usage:/ || /^ +fieldsync/ {
      for (j = 1; j <= NF && $j !~ /^fieldsync/; j++) {}
      ok = j <= NF
      for (i = 1; ok && i <= n; i++) if ($(j + i) != t[i]) ok = 0
      w = $(j + n + 1)
      gsub(/^\[|\]$/, "", w)
      if (ok && w ~ /^[a-z][a-z|-]*$/) {
        m = split(w, alt, "|")
        for (i = 1; i <= m; i++) print alt[i]
      }
    }' <<<"$text" | sort -u
}

# The subcommands of the command path "$@" of program $prog (global
# options in the array "global"): from its own help or from its parent's
# ("line edit ORDER LINE" is listed under `order`, not under `order line`).
_fieldsync_subcommands() {
  local help words
  help=$("$prog" "${global[@]}" "$@" --help 2>/dev/null)
  words=$(_fieldsync_help_words commands "$help" "$*")
  if [[ -z $words && $# -ge 2 ]]; then
    local parent last=${!#}
    parent=$("$prog" "${global[@]}" "${@:1:$#-1}" --help 2>/dev/null)
    words=$(awk -v last="$last" '/^Commands:/ { c = 1; next } c && /^$/ { c = 0 }
      c && $1 == last && $2 ~ /^[a-z][a-z-]*$/ { print $2 }' <<<"$parent" | sort -u)
  fi
  printf '%s\n' "$words"
}

_fieldsync() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=
  local prog=${COMP_WORDS[0]} i w
  local -a path=() global=()
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()

  case $prev in
  --home | --out | --dir)
    mapfile -t COMPREPLY < <(compgen -d -- "$cur")
    return
    ;;
  --ca | --cert | --key | --key-file | --token-file | *-file | --file)
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    return
    ;;
  esac

  # The commands typed so far, each one checked against its parent's; a
  # word that is none (an id, a name) ends them.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ $w == --home ]]; then
      global+=("$w" "${COMP_WORDS[i + 1]}")
      ((i++))
      continue
    fi
    [[ $w == -* ]] && continue
    grep -qx -- "$w" < <(_fieldsync_subcommands "${path[@]}") || break
    path+=("$w")
  done
  local help
  help=$("$prog" "${global[@]}" "${path[@]}" --help 2>/dev/null)

  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_fieldsync_help_words options "$help")" -- "$cur")
    return
  fi
  if ((i == COMP_CWORD)); then
    mapfile -t COMPREPLY < <(compgen -W "$(_fieldsync_subcommands "${path[@]}")" -- "$cur")
  fi
  # A command that reads a file (an import, a backup): file names.
  if ((${#COMPREPLY[@]} == 0)) && grep -q 'FILE' <<<"$help"; then
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}

complete -F _fieldsync fieldsync fieldsync-server
