/// `criu-helper --help`.
public enum Usage {
    public static let text = """
    usage: criu-helper dump --pid PID --images-dir DIR [--leave-running] [--keep N]
           criu-helper dump --images-dir DIR [--leave-running] [--keep N]   (job started with run)
           criu-helper restore --images-dir DIR [--generation gNNNNNN] [--keep-output]
                               [--wait [--checkpoint-every SECONDS [--keep N]]]
           criu-helper run [--images-dir DIR] [--checkpoint-every SECONDS] [--keep N]
                           [--private-network] -- COMMAND [ARG...]
           criu-helper list --images-dir DIR
           criu-helper check
           criu-helper --help | --version

    Checkpoints and restores the caller's own process trees with CRIU, with
    capabilities the caller does not have, and only for trees and images that
    are entirely the caller's.

      dump      checkpoint the tree rooted at PID into a new generation of DIR
                (created if missing); without --leave-running the tree is gone
                afterwards. Prints a one-line summary on stderr.
      restore   restore the latest good generation of DIR, detached; prints the
                restored root PID alone on stdout's last line. The files the job
                was writing are first cut back to their length at the checkpoint
                (exactly-once output; --keep-output leaves them). --wait stays in
                the foreground until the job ends and exits with its status;
                --checkpoint-every then dumps it periodically, as run does.
      run       start COMMAND as a checkpointable job (own session, own PID
                namespace, no_new_privs, no capabilities); waits for it,
                forwards SIGTERM, SIGINT and SIGHUP, exits with its status.
                --private-network: the job gets a network of its own with
                loopback only (kept on restore): other users cannot reach its
                network or abstract unix sockets, nor criu's.
      list      show the generations of DIR.
      check     tell an administrator whether this installation works.

    Exit status:
       0  done
       1  criu itself failed (its log path is printed)
      64  usage error
      69  a dependency is unavailable (criu, kernel audit, the helper's own
          capabilities or configuration)
      70  internal error
      77  refused (ownership, policy or validation)
    A job's own exit status is returned by `run` and `restore --wait`
    (128 + signal number when it was killed by a signal).
    """
}
