import BlockyardCLI
import Glibc

// A file-size limit (ulimit -f) or a full quota must give a clear "File too large" error from
// the write that hit it, not kill the process with SIGXFSZ halfway through.
signal(SIGXFSZ, SIG_IGN)
BlockyardCommand.runMain()
