// SPDX-License-Identifier: Apache-2.0

package codec

//go:generate go tool msgp -file=net.go -o=net_gen.go -io=false -tests=false

// Arguments and result of net.probe (spec/PROTOCOL.md 11.19).

//msgp:limit arrays:1024 maps:1024
//msgp:noduplicates

// ProbeArgs are the arguments of net.probe: a TCP connect made by the
// daemon, from its host, to see whether a port accepts connections.
type ProbeArgs struct {
	Port    uint16 `msg:"port"`
	Host    string `msg:"host"`    // name or address to connect to; "": localhost
	Timeout uint64 `msg:"timeout"` // ns; 0: 1 s; at most 10 s
}

// ProbeResult is the result of net.probe. A refused or timed-out
// connect is a result, not an error: it is what a controller waiting for
// a server expects to see until the server is up.
type ProbeResult struct {
	OK    bool   `msg:"ok"`    // the connect succeeded; the daemon closed it at once
	Errno uint32 `msg:"errno"` // why not, when the system said; 0 otherwise
	Sys   string `msg:"sys"`   // symbolic errno, e.g. "ECONNREFUSED"; "ETIMEDOUT" after the timeout
	Why   string `msg:"why"`   // the failure in words, e.g. a name that did not resolve
	Dur   uint64 `msg:"dur"`   // MONO ns the attempt took
}
