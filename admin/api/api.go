// Package api holds the wire types of the admin API (package admin): the
// JSON bodies its endpoints take and return. It imports only the standard
// library's time, so the command line client links none of the runtime.
package api

import "time"

// The endpoints, relative to the server's root.
const (
	PathStatus  = "/v1/status"  // GET: [Status]
	PathPush    = "/v1/push"    // POST a bundle (*.hpatch bytes): [PushResult]
	PathRevert  = "/v1/revert"  // POST [RevertRequest]: [Result]
	PathHistory = "/v1/history" // GET: [History]
	PathRestart = "/v1/restart" // POST: [Result]
	PathEvents  = "/v1/events"  // GET: server-sent events, one [Event] each
)

// EventAudit is the type of the events that record a mutating call.
const EventAudit = "audit"

// Status is the answer of GET /v1/status.
type Status struct {
	Generation uint64   `json:"generation"`
	PID        int      `json:"pid"` // the process that answered: another one after a restart
	Baseline   Baseline `json:"baseline"`
	Slots      []Slot   `json:"slots"`
	Stack      []Patch  `json:"stack"`   // bottom (oldest) first
	Restart    bool     `json:"restart"` // the baseline step is on
}

// Baseline says which binary serves.
type Baseline struct {
	Fingerprint string `json:"fingerprint,omitempty"` // the fingerprint hash of the running binary
	Identity    string `json:"identity,omitempty"`    // the journal's baseline identity
	StateDir    string `json:"state_dir,omitempty"`
}

// Slot is one registered slot and the version it serves.
type Slot struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	PatchID    string    `json:"patch_id,omitempty"` // "" for the baseline
	Kind       string    `json:"kind,omitempty"`
	Generation uint64    `json:"generation"`
	Since      time.Time `json:"since"`
	Failures   int64     `json:"failures"`
}

// Patch is one applied patch.
type Patch struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Source     string     `json:"source,omitempty"`
	Baseline   string     `json:"baseline,omitempty"`
	Slots      []string   `json:"slots"`
	Serving    []string   `json:"serving"`
	Generation uint64     `json:"generation"`
	AppliedAt  time.Time  `json:"applied_at"`
	Probation  *Probation `json:"probation,omitempty"`
}

// Probation is a patch's probation and its counts.
type Probation struct {
	State    string    `json:"state"`
	Start    time.Time `json:"start"`
	Until    time.Time `json:"until"`
	Calls    int64     `json:"calls"`
	Failures int64     `json:"failures"`
}

// Event is one entry of the history and of the event stream.
type Event struct {
	Type       string    `json:"type"`
	Time       time.Time `json:"time"`
	Generation uint64    `json:"generation"`
	PatchID    string    `json:"patch_id,omitempty"`
	Kind       string    `json:"kind,omitempty"`
	Source     string    `json:"source,omitempty"`
	Slots      []string  `json:"slots,omitempty"`
	Err        string    `json:"error,omitempty"`
	Note       string    `json:"note,omitempty"`
	TookNS     int64     `json:"took_ns,omitempty"`
}

// History is the answer of GET /v1/history, oldest first.
type History struct {
	Events []Event `json:"events"`
}

// RevertRequest is the body of POST /v1/revert.
type RevertRequest struct {
	ID string `json:"id"`
}

// PushResult is the answer of a push that applied its bundle.
type PushResult struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	SHA256     string `json:"sha256"`
	Stored     string `json:"stored"` // the file in the state directory
	Generation uint64 `json:"generation"`
	Replaced   string `json:"replaced,omitempty"` // the older version it replaced, if any
}

// Result is the answer of a call with nothing more to say than that it
// was done.
type Result struct {
	OK   bool   `json:"ok"`
	Note string `json:"note,omitempty"`
}

// Error is the body of every answer with a status of 400 or more.
type Error struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}
