"""The library's exceptions: one tree, raised by the library, mapped to exit 2 once, where the
CLI runs a command (`scanner.cli.app.ScannerGroup`).

ScannerError                  anything that stops a whole command (never one host's failure)
 +-- InputError               the input cannot be used: a CSV that is not CSV or has no host
 |    |                       column, rows given to `scanner.scan` of the wrong kind
 |    +-- HostError           a host cell or --host that is neither a DNS name nor an IP
 |    |                       literal (for a CSV row it becomes the row's invalid_input error)
 |    +-- ChainFileError      a file holds no certificate `scanner check` can read
 |    +-- ScanFolderError     a folder holds no scan, or scans that cannot be read as one
 +-- TrustStoreError          a CA bundle or trust store cannot be read or holds no certificate
 |    +-- RootProgramError    a --root-program file is neither Chrome's root_store.textproto
 |    |                       nor Mozilla's certdata.txt (scanner.x509.programs)
 |    +-- LogListError        a --ct-logs file is not a log_list.json v3 (scanner.x509.ct)
 +-- OutputError              the output folder cannot be written, or holds another scan
 +-- UsageError               options that contradict each other or the scan being resumed,
 |                            a naive as-of, an option `scanner.scan` does not take
 +-- ResourceError            this machine ran out of file descriptors, socket buffers or
                              memory mid-scan (never recorded as a host's failure)

A host's failure (DNS, refused, timeout, TLS...) is never an exception: it is a row with an
error code (`scanner.net.classify`).
"""

from __future__ import annotations


class ScannerError(Exception):
    """Base of every exception the library raises on purpose."""


class InputError(ScannerError):
    """The input as a whole is unusable (not a CSV, no host column)."""


class HostError(InputError, ValueError):
    """A host cell that is not a DNS name or an IP literal; the message is for error_detail."""


class ChainFileError(InputError):
    """The file holds no certificate we can read."""


class ScanFolderError(InputError):
    """A folder holds no scan, its tables cannot be read, or folders are not one scan."""


class TrustStoreError(ScannerError):
    """The CA bundle cannot be used."""


class OutputError(ScannerError):
    """The output folder cannot be used."""


class UsageError(ScannerError):
    """Options that cannot be used together, or that differ from the scan being resumed."""


class ResourceError(ScannerError):
    """The machine, not a host, failed: EMFILE, ENFILE, ENOBUFS or ENOMEM during a scan."""
