# fish completion for vodwatchd
set -l commands run upload status retry forget check emulator version help
complete -c vodwatchd -f
complete -c vodwatchd -n "not __fish_seen_subcommand_from $commands" -l version -d 'print the version'
complete -c vodwatchd -n "not __fish_seen_subcommand_from $commands" -a run -d 'watch the configured folders and upload what settles'
complete -c vodwatchd -n "not __fish_seen_subcommand_from $commands" -a upload -d 'upload one file or HLS/DASH bundle and print its FileId'
complete -c vodwatchd -n "not __fish_seen_subcommand_from $commands" -a status -d 'show jobs from the state file'
complete -c vodwatchd -n "not __fish_seen_subcommand_from $commands" -a retry -d 'put failed or quarantined jobs back in the queue'
complete -c vodwatchd -n "not __fish_seen_subcommand_from $commands" -a forget -d 'drop job records so files can be uploaded again'
complete -c vodwatchd -n "not __fish_seen_subcommand_from $commands" -a check -d 'validate a config and explain which rule takes a path'
complete -c vodwatchd -n "not __fish_seen_subcommand_from $commands" -a emulator -d 'run the local VOD/COS emulator'
complete -c vodwatchd -n "not __fish_seen_subcommand_from $commands" -a version -d 'print the version and the modules it was built with'
complete -c vodwatchd -n "not __fish_seen_subcommand_from $commands" -a help -d 'show the usage of a command'
complete -c vodwatchd -n "__fish_seen_subcommand_from help" -a "$commands"

# run
complete -c vodwatchd -n "__fish_seen_subcommand_from run" -l config -r -F -d 'configuration file'
complete -c vodwatchd -n "__fish_seen_subcommand_from run" -l emulator -d 'upload into the embedded emulator'
complete -c vodwatchd -n "__fish_seen_subcommand_from run" -l emulator-data -r -F -d 'emulator data folder'
complete -c vodwatchd -n "__fish_seen_subcommand_from run upload" -l emulator-accounts -r -F -d 'emulator accounts YAML'
complete -c vodwatchd -n "__fish_seen_subcommand_from run" -l emulator-listen -r -d 'emulator address'
complete -c vodwatchd -n "__fish_seen_subcommand_from run" -l log-format -r -a 'auto text json' -d 'log format'
complete -c vodwatchd -n "__fish_seen_subcommand_from run" -l log-level -r -a 'debug info warn error' -d 'log level'

# upload
complete -c vodwatchd -n "__fish_seen_subcommand_from upload" -F
for f in class-id concurrent-upload-number cos-endpoint cos-scheme cover endpoint expire-time media-name media-type part-size procedure region scheme session-context source-context storage-region sub-app-id
    complete -c vodwatchd -n "__fish_seen_subcommand_from upload" -l $f -r
end
complete -c vodwatchd -n "__fish_seen_subcommand_from upload" -l emulator -d 'upload into the embedded emulator'
complete -c vodwatchd -n "__fish_seen_subcommand_from upload" -l json -d 'print JSON'
complete -c vodwatchd -n "__fish_seen_subcommand_from upload" -s v -d 'log progress details'

# status, retry, forget
complete -c vodwatchd -n "__fish_seen_subcommand_from status retry forget" -F
complete -c vodwatchd -n "__fish_seen_subcommand_from status retry forget" -l config -r -F -d 'configuration file'
complete -c vodwatchd -n "__fish_seen_subcommand_from status retry forget" -l state -r -F -d 'state file'
complete -c vodwatchd -n "__fish_seen_subcommand_from status retry forget" -l emulator -d 'the state of run --emulator with this config'
complete -c vodwatchd -n "__fish_seen_subcommand_from status retry" -l failed -d 'failed and quarantined jobs'
complete -c vodwatchd -n "__fish_seen_subcommand_from status" -l active -d 'only queued and in-flight jobs'
complete -c vodwatchd -n "__fish_seen_subcommand_from status" -l done -d 'only done jobs'
complete -c vodwatchd -n "__fish_seen_subcommand_from status" -l json -d 'print JSON'
complete -c vodwatchd -n "__fish_seen_subcommand_from status" -l exit-zero -d 'exit 0 even when jobs failed'
complete -c vodwatchd -n "__fish_seen_subcommand_from forget" -l force -d 'also jobs in flight'

# check
complete -c vodwatchd -n "__fish_seen_subcommand_from check" -F
complete -c vodwatchd -n "__fish_seen_subcommand_from check" -l config -r -F -d 'configuration file'
complete -c vodwatchd -n "__fish_seen_subcommand_from check" -l online -d 'also ask the VOD account'
complete -c vodwatchd -n "__fish_seen_subcommand_from check" -l as -r -a '(__fish_complete_users)' -d 'check access as this user'

# emulator
for f in accounts app-id cert-lifetime data event-redeliver fault-answer-latency fault-cert-lifetime fault-error-rate fault-latency fault-reset-after fault-reset-rate fault-seed fault-throttle latency listen rate-limit repeat-commit secret-id secret-key session-lifetime task-duration task-fail-rate tls-cert tls-key
    complete -c vodwatchd -n "__fish_seen_subcommand_from emulator" -l $f -r
end
complete -c vodwatchd -n "__fish_seen_subcommand_from emulator" -l allow-non-loopback -d 'allow a non-loopback address'
complete -c vodwatchd -n "__fish_seen_subcommand_from emulator" -l allow-unsigned-cos -d 'accept unsigned COS uploads'
complete -c vodwatchd -n "__fish_seen_subcommand_from emulator" -s v -d 'log every request'

# version
complete -c vodwatchd -n "__fish_seen_subcommand_from version" -l json -d 'print JSON'
