package metrics

import (
	"context"
	"errors"

	"github.com/hotpatch-go/hotpatch/bundle"
	"github.com/hotpatch-go/hotpatch/hotswap"
	"github.com/hotpatch-go/hotpatch/loader"
	"github.com/hotpatch-go/hotpatch/patchdir"
)

// The values of the reason label of hotpatch_rejections_total and
// hotpatch_rollbacks_total. Error texts come from patches and files, so
// they never become label values: each error is classified into this fixed
// set, the first that matches in this order.
const (
	ReasonUnknownSlot     = "unknown_slot"     // [hotswap.ErrUnknownSlot]
	ReasonTypeMismatch    = "type_mismatch"    // [hotswap.ErrTypeMismatch]
	ReasonBaselineChanged = "baseline_changed" // [hotswap.ErrBaselineChanged]: take the baseline step
	ReasonDuplicateID     = "duplicate_id"     // [hotswap.ErrDuplicateID]
	ReasonVetoed          = "vetoed"           // [hotswap.ErrVetoed]
	ReasonClosed          = "closed"           // [hotswap.ErrClosed]
	ReasonTimeout         = "timeout"          // a deadline, or a load abandoned past its timeout
	ReasonPanic           = "panic"            // a [*hotswap.PanicError]
	ReasonInvalid         = "invalid"          // a bad patch: no ID, no implementation, a bad source file, a malformed bundle
	ReasonSignature       = "signature"        // a bundle unsigned, signed by an untrusted key, or altered after it was signed
	ReasonExpired         = "expired"          // [bundle.ErrExpired]
	ReasonReplay          = "replay"           // [bundle.ErrReplay]: older than a bundle of the same ID already applied
	ReasonError           = "error"            // anything else
)

// reasons are the values of the reason label of rejections and rollbacks.
var reasons = []string{ReasonUnknownSlot, ReasonTypeMismatch, ReasonBaselineChanged, ReasonDuplicateID,
	ReasonVetoed, ReasonClosed, ReasonTimeout, ReasonPanic, ReasonInvalid, ReasonSignature, ReasonExpired,
	ReasonReplay, ReasonError}

// The values of the reason label of hotpatch_reverts_total.
const (
	RevertRequest  = "request"  // Revert, or a patch file removed
	RevertReplaced = "replaced" // a new version of the patch took its place in the same swap
	RevertClose    = "close"    // the manager closed
)

// reason classifies the error of a rejected or rolled-back event.
func reason(err error) string {
	var pe *hotswap.PanicError
	var le *loader.Error
	switch {
	case err == nil:
		return ReasonError
	case errors.Is(err, hotswap.ErrUnknownSlot):
		return ReasonUnknownSlot
	case errors.Is(err, hotswap.ErrTypeMismatch):
		return ReasonTypeMismatch
	case errors.Is(err, bundle.ErrUnsigned), errors.Is(err, bundle.ErrUntrusted), errors.Is(err, bundle.ErrTampered):
		return ReasonSignature
	case errors.Is(err, bundle.ErrExpired):
		return ReasonExpired
	case errors.Is(err, bundle.ErrReplay):
		return ReasonReplay
	case errors.Is(err, hotswap.ErrBaselineChanged), errors.Is(err, bundle.ErrWrongBaseline):
		return ReasonBaselineChanged
	case errors.Is(err, hotswap.ErrDuplicateID):
		return ReasonDuplicateID
	case errors.Is(err, hotswap.ErrVetoed):
		return ReasonVetoed
	case errors.Is(err, hotswap.ErrClosed):
		return ReasonClosed
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, patchdir.ErrLoadAbandoned):
		return ReasonTimeout
	case errors.As(err, &pe):
		return ReasonPanic
	case errors.Is(err, hotswap.ErrNoID), errors.Is(err, hotswap.ErrEmptyPatch),
		errors.Is(err, hotswap.ErrNilImpl), errors.As(err, &le),
		errors.Is(err, bundle.ErrNotBundle), errors.Is(err, bundle.ErrMalformed),
		errors.Is(err, bundle.ErrTooLarge), errors.Is(err, bundle.ErrWrongKind):
		return ReasonInvalid
	}
	return ReasonError
}

// revertReason tells a revert on request from the removal of a replaced
// patch, which the manager records right after the applied event of the
// same swap, at the same generation, and from the reverts of Close, the
// only ones with a note and no error.
func revertReason(e hotswap.Event, lastApplied uint64) string {
	switch {
	case e.Note != "" && e.Err == nil:
		return RevertClose
	case lastApplied != 0 && e.Generation == lastApplied:
		return RevertReplaced
	}
	return RevertRequest
}
