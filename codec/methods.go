// SPDX-License-Identifier: Apache-2.0

package codec

// Method names of protocol v1. A daemon answers a method it does not serve
// with CodeUnsupported and keeps the connection.
const (
	MethodHostInfo    = "host.info"
	MethodStart       = "proc.start"
	MethodTrigger     = "proc.trigger"
	MethodSignal      = "proc.signal"
	MethodFreeze      = "proc.freeze"
	MethodStdin       = "proc.stdin"
	MethodResize      = "proc.resize"
	MethodStatus      = "proc.status"
	MethodList        = "proc.list"
	MethodWait        = "proc.wait"
	MethodRelease     = "proc.release"
	MethodSubscribe   = "out.subscribe"
	MethodUnsubscribe = "out.unsubscribe"
	MethodRead        = "out.read"
	MethodSampleOnce  = "sample.once"
	MethodSampleSub   = "sample.subscribe"
	MethodSampleUnsub = "sample.unsubscribe"
	MethodFilePut     = "file.put"
	MethodFileGet     = "file.get"
	MethodCollect     = "proc.collect"
	MethodProbe       = "net.probe"
)

// Protocol versions. ProtocolVersion is the major version this package
// speaks; CapabilityVersion grows with every compatible addition, so that
// each side can tell which semantics the other understands.
//
// Capability history:
//
//	1 (2026-12-03): protocol v1 as first written in spec/PROTOCOL.md.
//	2 (2026-12-03): proc.signal answers with SignalResult, the instant
//	   the signal was sent; with at, when it has been sent. net.probe.
//	3 (2026-12-03): a restarted daemon carries the processes of the
//	   previous instance over (spec 16.12); gap why "restart". file.put
//	   and file.get read root, which confines them; host.info reports
//	   exe, the daemon's binary, which a chain put starts.
const (
	ProtocolVersion   = 1
	CapabilityVersion = 3

	// CapVerFileRoot is the first capability version whose daemons read
	// root in file.put and file.get; an older one would ignore it.
	CapVerFileRoot = 3
)

// Capability names offered in HELLO and granted in WELCOME.
const (
	CapFrameMAC = "frame.mac" // per-frame HMAC after READY, on plain TCP
)
