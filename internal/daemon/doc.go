// Package daemon ties the stages together: watchers and settling feed the
// assembler, which records jobs in the state store; the scheduler runs them
// through the uploader and the post-actions. internal/app builds a Daemon
// and everything around it (state, uploaders, metrics, health, systemd).
//
// # The route of a file
//
// Follow one file, clip.mp4 dropped into a watch root, from its first
// event to its post-action. Each step names the function to read.
//
//  1. Intake (intake.go). Run starts one intake per watch root
//     (runWatches, runIntakes, runIntake). The root's watcher
//     (internal/watcher) sends an Event for every change hint and, on
//     start-up and every rescan, a Scanned event for every file, each with
//     the file's fileid.ID from lstat. intake.event hands files to the
//     settler; a file the store already knows (intake.known, via
//     reconcile and store.Reconcile: path, size and mtime pick the record,
//     device/inode/ctime are the fast path, the content CRC-64 confirms a
//     remounted or migrated file, whose record then adopts the new inode)
//     is not settled again. Before watching,
//     runIntake takes the root's lock file (rootlock.go): a folder that
//     another vodwatchd watches is refused and tried again later.
//
//  2. Settling (internal/settle). The settler re-stats the file until its
//     ID (size, mtime, device, inode) has not changed for the watch's
//     settle window, no process holds it open for writing (local
//     filesystems, settle.OpenForWrite, up to max_open_wait) and its ready
//     marker, if a rule asks for one, exists.
//     The stable file comes back to intake.loop as a settle.Stable.
//
//  3. Assembling (assemble.go, hold.go). assembler.settled decides what the
//     file is: ignored, a sidecar or marker, a cover (never a job of its
//     own), a segment or variant of a bundle, or media. assembler.try pairs
//     media with its cover (waiting up to cover_wait) and tryBundle waits
//     until every file an HLS/DASH manifest references is present and
//     settled. Then assembler.enqueue records the job; a new version of a
//     file already uploaded follows the rule's on_change (onchange.go).
//
//  4. The queue (internal/state). store.Enqueue writes one bbolt record
//     keyed by state.Key (watch root, relative path, size, mtime and, for a
//     second content under those, its CRC): the same version seen again is
//     the same job, a new version a new one. This write is the hand-off: nothing after it depends on the
//     intake, and a crash loses nothing, because the record is durable
//     before anything is sent.
//
//  5. Scheduling (scheduler.go). scheduler.run wakes on store.Changed, a
//     tick, a retry time or Poke; refill reads the due jobs (store.Due),
//     dispatch hands them to at most upload.workers workers by priority,
//     keeping a share for small files, and work calls runJob. A job whose
//     worker ended with its record still in flight (the state refused the
//     write) is stranded and run again once the state takes writes.
//
//  6. Uploading (job.go, progress.go). runJob finds the job's rule and
//     parameters (paramsFor), checks that the file is still the version
//     the job was taken with (checkUnchanged, fileid.Check), optionally
//     links a duplicate (dedupe.go), and calls the uploader with the saved
//     checkpoint. jobProgress.Save records every checkpoint and stage
//     (applied, uploading, committing) in the store before each remote
//     side effect; the session's temporary certificate goes to the store's
//     0600 secrets folder, never into the record. Before CommitUpload every
//     file sent is checked unchanged; one that changed under the same size
//     and mtime is uploaded again as a whole (retake, identity.go). A
//     CommitUpload whose answer was lost, or that refused the session, is
//     settled by looking the media up (settleCommit, afterRefusedSession);
//     media found settles the job from whatever stage it is in, and a
//     refused repeat commit never clears the "commit sent" mark.
//
//  7. Result (job.go). done records the FileId and URLs (stage done);
//     fail records the error and either schedules a retry with backoff or,
//     after quarantine.after_attempts, quarantines the job and its files.
//
//  8. Post-action (job.go runPost, internal/postaction). Only once done is
//     durable: keep, move or delete the files, and write the sidecar. A
//     post-action that fails is retried later (scheduler.duePosts); one
//     interrupted by a restart resumes (resumePostActions).
//
// Health: every loop calls its heartbeat (Options.Beat) and the daemon
// keeps its condition for Snapshot, which the app turns into /readyz and
// systemd's STATUS= line.
package daemon
