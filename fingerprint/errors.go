package fingerprint

import "errors"

// Errors returned by this package; match them with [errors.Is].
var (
	// ErrNoBuildInfo is returned by [Fingerprint] when the binary carries
	// no module build information (built outside module mode), and by
	// [FingerprintOf] given none.
	ErrNoBuildInfo = errors.New("fingerprint: binary has no build information")

	// ErrBadFingerprint is returned when a fingerprint text cannot be
	// parsed, or a record cannot be written as text.
	ErrBadFingerprint = errors.New("fingerprint: malformed fingerprint")
)
