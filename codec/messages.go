// SPDX-License-Identifier: Apache-2.0

package codec

//go:generate go tool msgp -file=messages.go -o=messages_gen.go -io=false -tests=false

// Every message body is a MessagePack map whose keys are written in the
// order of the struct fields below, always all of them (spec/PROTOCOL.md,
// "Canonical encoding"). Values that are never negative use unsigned Go
// types so that msgp writes them in the unsigned family, as every other
// MessagePack library does; the few fields that may be negative use Int.
// Bytes that Linux does not promise to be UTF-8 (argv, environment, paths,
// output) are []byte and travel as bin.
//
// The limits below are checked by the generated decoders before anything
// is allocated. A frame is at most MaxFrame bytes, so str and bin lengths
// are also bounded by the frame they arrive in.

//msgp:limit arrays:131072 maps:1024
//msgp:noduplicates

// Hello is the first message of a controller (kind KindHello).
type Hello struct {
	Versions []uint16 `msg:"pv,limit=16"`   // [min, max] protocol major versions offered
	CapVer   uint32   `msg:"cv"`            // the controller's capability version
	Caps     []string `msg:"caps,limit=64"` // optional features the controller can use
	Who      string   `msg:"who"`           // free-form controller name, for logs
	Nonce    []byte   `msg:"cn"`            // 32 random bytes
	KeyID    string   `msg:"kid"`           // identifier of the key the controller holds
}

// Welcome is the daemon's answer to Hello (kind KindWelcome).
type Welcome struct {
	Version  uint16   `msg:"pv"`            // chosen protocol major version
	CapVer   uint32   `msg:"cv"`            // the daemon's capability version
	Caps     []string `msg:"caps,limit=64"` // features both sides have
	Auth     string   `msg:"auth"`          // "hmac" or "none"
	Instance []byte   `msg:"inst"`          // 16 random bytes, new at every daemon start
	BootID   string   `msg:"boot"`          // /proc/sys/kernel/random/boot_id
	Daemon   string   `msg:"ver"`           // daemon version string
	Host     string   `msg:"host"`          // hostname
	Nonce    []byte   `msg:"sn"`            // 32 random bytes
	MaxFrame uint32   `msg:"maxf"`          // largest frame the daemon accepts after READY
	Real     uint64   `msg:"real"`          // CLOCK_REALTIME ns when WELCOME was written
	Mono     uint64   `msg:"mono"`          // CLOCK_MONOTONIC ns when WELCOME was written
}

// Auth carries the controller's proof (kind KindAuth).
type Auth struct {
	Proof []byte `msg:"cp"`
}

// Ready ends the handshake and carries the daemon's proof (kind KindReady).
type Ready struct {
	Proof []byte `msg:"sp"`
}

// Request is the body of a KindRequest frame. Args is decoded by the
// method's own type; see DecodeRequest.
type Request struct {
	Method string `msg:"m"`
}

// Error is the protocol's error value, in responses and in GOAWAY.
type Error struct {
	Code    uint16      `msg:"c"` // stable numeric code, see codes.go
	Name    string      `msg:"n"` // stable name of the code, e.g. "NOT_FOUND"
	Message string      `msg:"m"` // for humans; never parsed
	Retry   bool        `msg:"t"` // whether the same request may succeed later
	Detail  ErrorDetail `msg:"d"`
}

// ErrorDetail says more about an Error; fields that do not apply are zero.
type ErrorDetail struct {
	Step  string `msg:"step"`  // spawn step that failed: "chdir", "execve", ...
	Errno uint32 `msg:"errno"` // Linux errno of the failure, 0 if none
	Sys   string `msg:"sys"`   // symbolic errno, e.g. "ENOENT"
	Field string `msg:"field"` // argument that was rejected, for BAD_ARGS
	Limit uint64 `msg:"limit"` // the limit that was exceeded, for LIMIT
}

// Credit grants bytes to an output subscription (kind KindCredit; the
// envelope id is the subscription id).
type Credit struct {
	Bytes uint64 `msg:"b"`
}

// Ping asks for the daemon's clocks (kind KindPing, id echoed in Pong).
type Ping struct {
	T1 uint64 `msg:"t1"` // controller CLOCK_REALTIME ns at send
}

// Pong answers Ping. T2 is read as soon as the Ping frame was read, T3 just
// before the Pong was written.
type Pong struct {
	T1 uint64 `msg:"t1"` // echoed
	T2 uint64 `msg:"t2"` // daemon CLOCK_REALTIME ns at receipt
	T3 uint64 `msg:"t3"` // daemon CLOCK_REALTIME ns at send
	M2 uint64 `msg:"m2"` // daemon CLOCK_MONOTONIC ns at receipt
	M3 uint64 `msg:"m3"` // daemon CLOCK_MONOTONIC ns at send
}

// Goaway announces that the sender closes the connection (kind KindGoaway).
type Goaway struct {
	Err    Error  `msg:"e"`
	LastID uint32 `msg:"last"` // highest request id that was processed
}
