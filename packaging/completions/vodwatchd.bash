# bash completion for vodwatchd
_vodwatchd() {
    local cur prev cmd flags
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    local commands="run upload status retry forget check emulator version help"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$commands --version --help" -- "$cur"))
        return
    fi
    cmd=${COMP_WORDS[1]}
    case $prev in
        --config|--state|--cover|--emulator-data|--emulator-accounts|--data|--accounts|--tls-cert|--tls-key)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --log-level)
            COMPREPLY=($(compgen -W "debug info warn error" -- "$cur"))
            return ;;
        --log-format)
            COMPREPLY=($(compgen -W "auto text json" -- "$cur"))
            return ;;
        --scheme|--cos-scheme)
            COMPREPLY=($(compgen -W "https http" -- "$cur"))
            return ;;
        --repeat-commit)
            COMPREPLY=($(compgen -W "same error" -- "$cur"))
            return ;;
    esac
    case $cmd in
        run) flags="--config --emulator --emulator-accounts --emulator-data --emulator-listen --log-format --log-level" ;;
        upload) flags="--class-id --concurrent-upload-number --cos-endpoint --cos-scheme --cover --emulator --emulator-accounts --endpoint --expire-time --json --media-name --media-type --part-size --procedure --region --scheme --session-context --source-context --storage-region --sub-app-id -v" ;;
        status) flags="--active --config --done --emulator --exit-zero --failed --json --state" ;;
        retry) flags="--config --emulator --failed --state" ;;
        forget) flags="--config --emulator --force --state" ;;
        check) flags="--as --config --online" ;;
        emulator) flags="--accounts --allow-non-loopback --allow-unsigned-cos --app-id --cert-lifetime --data --event-redeliver --fault-answer-latency --fault-cert-lifetime --fault-error-rate --fault-latency --fault-reset-after --fault-reset-rate --fault-seed --fault-throttle --latency --listen --rate-limit --repeat-commit --secret-id --secret-key --session-lifetime --task-duration --task-fail-rate --tls-cert --tls-key -v" ;;
        version) flags="--json" ;;
        help) COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags --help" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -o bashdefault -F _vodwatchd vodwatchd
