// SPDX-License-Identifier: Apache-2.0

package codec

import (
	"bytes"
	"fmt"
	"reflect"
)

// sample is one valid frame of the protocol and the Go value it carries.
// The samples are the golden vectors of spec/vectors, the seeds of the
// fuzz targets and the inputs of the round-trip tests.
type sample struct {
	name   string // file name in spec/vectors, without extension
	desc   string
	kind   uint8
	id     uint32
	method string  // requests and responses: the method called
	body   Message // nil: a request or result without arguments ({})
	isErr  bool    // a response carrying an error; body is *Error
}

// Realistic values: PIDs up to the 64-bit kernel maximum, nanosecond
// timestamps of 2026, offsets past 4 GiB, non-UTF-8 bytes where Linux
// allows them.
const (
	sampleReal   = 1796000000123456789
	sampleMono   = 86400123456789
	sampleHandle = 0xa3f1_0000_0000_002a
	samplePIDMax = 4194303 // PID_MAX_LIMIT on 64-bit kernels
	samplePID    = 32767
	sampleOffset = 5<<30 + 12345 // past 4 GiB
	infinity     = 1<<64 - 1
)

// pattern returns n deterministic bytes, for nonces, proofs and instances.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*37)
	}
	return b
}

func sampleExit() Exit {
	return Exit{
		K: EventExit, Handle: sampleHandle, PID: samplePIDMax, Code: 0, Signal: 9,
		Core: false, Why: "timeout",
		Usage: Rusage{
			UserNs: 3_600_123_456_789, SysNs: 12_345_678_901, MaxRSS: 16_777_216,
			MinFlt: 1_234_567, MajFlt: 42, InBlk: 8, OutBlk: 123_456, NVCSw: 99_999, NIVCSw: 70_000,
		},
		Cgroup: CgUsage{
			Valid: true, UserNs: 3_600_200_000_000, SysNs: 12_400_000_000,
			MemPeak: 17_179_869_184, OOMKill: 1,
		},
		Times: Times{
			StartReal: sampleReal, StartMono: sampleMono,
			ReleaseReal: sampleReal + 1_000_000, ReleaseMono: sampleMono + 1_000_000,
			ExecReal: sampleReal + 1_250_000, ExecMono: sampleMono + 1_250_000,
			EndReal: sampleReal + 3_600_000_000_000, EndMono: sampleMono + 3_600_000_000_000,
		},
		Lengths: []uint64{sampleOffset, 4096},
		Open:    true,
	}
}

func sampleStart() *StartArgs {
	return &StartArgs{
		Argv: [][]byte{[]byte("/usr/bin/python3"), []byte("train.py"), []byte("--name=\xff\xfe")},
		Env: EnvSpec{
			Mode:  "clear",
			Set:   [][]byte{[]byte("PATH=/usr/bin:/bin"), []byte("LANG=C.UTF-8"), []byte("RAW=\xc3\x28")},
			Unset: [][]byte{[]byte("LD_PRELOAD")},
		},
		Cwd:    []byte("/home/alice/runs/042"),
		Stdin:  StdinSpec{Mode: "file", Path: []byte("/home/alice/input-\xff.bin")},
		Output: OutSpec{PTY: true, Rows: 50, Cols: 200, MemOnly: true},
		User:   "alice",
		Group:  "1001",
		Rlimits: []Rlimit{
			{Name: "nofile", Soft: 65536, Hard: 1048576},
			{Name: "core", Soft: 0, Hard: infinity},
			{Name: "stack", Soft: 8 << 20, Hard: infinity},
		},
		CPUs:    []uint16{0, 1, 127, 128, 300},
		Nice:    -5,
		HasNice: true,
		Pgroup:  "session",
		Cgroup:  CgroupSpec{MemMax: 16 << 30, CPUQuota: 150000, CPUPeriod: 100000},
		Timeout: 3600_000_000_000,
		Grace:   5_000_000_000,
		Tag:     "run-042/seed-7",
		Stage:   true,
		At:      sampleReal,
		Lease:   30_000_000_000,
		Collect: [][]byte{[]byte("/home/alice/runs/042/metrics.json"), []byte("core.\xff")},
	}
}

func samplePut() *PutArgs {
	return &PutArgs{Path: []byte("/srv/data/model.\xff.bin"), Size: 5 << 30, SHA: pattern(32, 5),
		Mode: 0o640, Mtime: sampleReal, Resume: true, Sync: true, Offset: 0,
		Data: []byte("\x00\x01\x02 header"), MkDirs: true}
}

func sampleGetList() *GetResult {
	return &GetResult{Mode: 0o755, Mtime: sampleReal, Files: []FileEntry{
		{Path: []byte(""), Dir: true, Mode: 0o755, Mtime: sampleReal},
		{Path: []byte("bin"), Dir: true, Mode: 0o700, Mtime: sampleReal - 1},
		{Path: []byte("bin/run.\xff"), Size: sampleOffset, Mode: 0o4755, Mtime: sampleReal - 2},
	}}
}

func sampleCollect() *CollectResult {
	return &CollectResult{Files: []Collected{
		{Path: []byte("/home/alice/runs/042/metrics.json"),
			Kept: []byte("/var/lib/tacet/collect/a3f100000000002a/0-metrics.json"),
			Size: 4096, SHA: pattern(32, 6), Mode: 0o644, Mtime: sampleReal},
		{Path: []byte("core.\xff"), Mode: 0, Errno: 2, Sys: "ENOENT"},
	}}
}

func sampleHostInfo() *HostInfo {
	return &HostInfo{
		Version: "0.1.0", Revision: "4f2c9e1a7b3d", Instance: pattern(16, 0x10),
		BootID: "2c9a1f0e-7b3d-4e8a-9c51-0d6f2b8e4a17", Host: "lab-07",
		Kernel: "6.1.0-28-amd64", CPUModel: "AMD EPYC 7763 64-Core Processor",
		CPUs: 128, NUMANodes: 2, MemTotal: 540_897_280_000, PID: samplePID, UID: 0,
		Containment: "cgroup2", CgroupVer: 2, CgroupCtl: []string{"cpu", "memory", "pids"},
		PSI:     true,
		Clock:   ClockInfo{Source: "tsc", Synced: true, EstErr: 1500, MaxErr: 250_000},
		Real:    sampleReal,
		Mono:    sampleMono,
		Methods: []string{MethodHostInfo, MethodStart, MethodSignal, MethodSubscribe, MethodRead},
	}
}

func sampleList() *ListResult {
	running := ProcInfo{
		Handle: sampleHandle + 1, PID: samplePID, Tag: "", State: "running",
		Argv: [][]byte{[]byte("sleep"), []byte("infinity")},
		Real: sampleReal + 5, Mono: sampleMono + 5, Lengths: []uint64{0, 0},
	}
	exited := ProcInfo{
		Handle: sampleHandle, PID: samplePIDMax, Tag: "run-042/seed-7", State: "exited",
		Argv: [][]byte{[]byte("/usr/bin/python3"), []byte("--name=\xff\xfe")},
		Real: sampleReal, Mono: sampleMono, Lengths: []uint64{sampleOffset, 4096},
		Exit: sampleExit(),
	}
	return &ListResult{Procs: []ProcInfo{running, exited}}
}

// sampleSample returns a sample with one record of every source: a
// short /proc/stat of two CPUs, PSI without a full line for "cpu", and a
// process name that would be cut at the first ')' by a naive parser.
func sampleSample(seq uint64) *Sample {
	cpu := func(name string, k uint64) CPU {
		return CPU{Name: name, User: 1_234_560_000_000 * k, Nice: 10_000_000, System: 98_760_000_000 * k,
			Idle: 86_000_000_000_000, IOWait: 50_000_000, IRQ: 0, SoftIRQ: 1_230_000_000, Steal: 20_000_000}
	}
	return &Sample{
		K: EventSample, Seq: seq, Real: sampleReal, Mono: sampleMono, Dur: 41_250,
		Self: Cost{UserNs: 1_250_000_000, SysNs: 740_000_000, NVCSw: 30_211, NIVCSw: 47, RSS: 14 << 20, Threads: 7},
		Miss: []string{SourceDisk},
		CPU:  []CPU{cpu("cpu", 2), cpu("cpu0", 1), cpu("cpu1", 1)},
		Mem: []Mem{{Total: 540_897_280_000, Free: 3_221_225_472, Avail: 400_000_000_000, Buffers: 1 << 30,
			Cached: 120 << 30, Shmem: 2 << 20, Slab: 4 << 30, Dirty: 65536, Writeback: 0,
			SwapTotal: 8 << 30, SwapFree: 8 << 30}},
		Load: []Load{{Avg1: 0.52, Avg5: 1.25, Avg15: 3.5, Threads: 2411, Running: 3, Blocked: 1,
			Ctxt: 9_876_543_210, Forks: 4_000_123}},
		PSI: []PSI{
			{Res: "cpu", Some10: 0.5, Some60: 0.12, Some300: 0.03, Some: 1_234_567_000},
			{Res: "memory", Some10: 1.5, Some60: 0.75, Some300: 0.25, Some: 98_000,
				Full10: 0.25, Full60: 0.125, Full300: 0.0625, Full: 45_000},
		},
		Net: []Net{{Dev: []byte("veth\xff0"), RxBytes: sampleOffset, RxPkts: 3_000_000, RxErrs: 1, RxDrop: 2,
			TxBytes: 1 << 33, TxPkts: 4_000_000, TxErrs: 0, TxDrop: 5}},
		VM: []VM{{PgFault: 123_456_789, PgMajFault: 1234, PgPgIn: 5 << 20, PgPgOut: 9 << 20,
			PSwpIn: 0, PSwpOut: 12, PgScan: 40_000, PgSteal: 39_000, OOMKill: 1}},
		Proc: []ProcSample{
			{Handle: sampleHandle, PID: samplePIDMax, PPID: samplePID, Start: 86_000_120_000_000, State: "S",
				CPU: 127, Threads: 33, UserNs: 3_600_120_000_000, SysNs: 12_340_000_000,
				MinFlt: 1_234_567, MajFlt: 42, NVCSw: 99_999, NIVCSw: 70_000, VSize: 40 << 30, RSS: 16 << 30,
				Shared: 300 << 20, RChar: sampleOffset, WChar: 1 << 20, RdBytes: 4096, WrBytes: 8192,
				CgCPU: 3_700_000_000_000, CgMem: 17 << 30},
			{Handle: sampleHandle, PID: samplePIDMax - 1, PPID: samplePIDMax, Start: 86_000_130_000_000,
				State: "R", CPU: 3, Threads: 1, UserNs: 10_000_000, MinFlt: 200, VSize: 8 << 20, RSS: 1 << 20},
		},
	}
}

func sampleSpawnError() *Error {
	e := NewError(CodeSpawnFailed, "execve /usr/bin/pyton3: no such file or directory")
	e.Detail = ErrorDetail{Step: "execve", Errno: 2, Sys: "ENOENT"}
	return e
}

func handshakeSamples() []sample {
	return []sample{
		{name: "hello", desc: "controller's first frame, offering v1 and frame.mac", kind: KindHello,
			body: &Hello{Versions: []uint16{1, 1}, CapVer: 1, Caps: []string{CapFrameMAC},
				Who: "tacetctl/0.1 alice@lab-01", Nonce: pattern(32, 1), KeyID: "9f86d081884c7d65"}},
		{name: "welcome", desc: "daemon's answer: v1, hmac, frame.mac granted", kind: KindWelcome,
			body: &Welcome{Version: 1, CapVer: 1, Caps: []string{CapFrameMAC}, Auth: "hmac",
				Instance: pattern(16, 0x10), BootID: "2c9a1f0e-7b3d-4e8a-9c51-0d6f2b8e4a17",
				Daemon: "0.1.0", Host: "lab-07", Nonce: pattern(32, 2), MaxFrame: DefaultMaxFrame,
				Real: sampleReal, Mono: sampleMono}},
		{name: "auth", desc: "controller's proof", kind: KindAuth, body: &Auth{Proof: pattern(32, 3)}},
		{name: "ready", desc: "daemon's proof, end of the handshake", kind: KindReady,
			body: &Ready{Proof: pattern(32, 4)}},
	}
}

func requestSamples() []sample {
	req := func(id uint32, method, desc string, args Message) sample {
		return sample{name: "request-" + method, desc: desc, kind: KindRequest, id: id,
			method: method, body: args}
	}
	minimal := req(2, MethodStart, "proc.start with defaults and a positive nice",
		&StartArgs{Argv: [][]byte{[]byte("true")}, Nice: 5, HasNice: true})
	minimal.name += "-minimal"
	return []sample{
		req(1, MethodHostInfo, "host.info, no arguments", nil),
		req(7, MethodStart, "proc.start with every option set, nice -5, non-UTF-8 argv", sampleStart()),
		minimal,
		req(8, MethodTrigger, "release two staged processes at an instant",
			&TriggerArgs{Handles: []uint64{sampleHandle, sampleHandle + 1}, At: sampleReal}),
		req(9, MethodSignal, "SIGTERM to the whole tree at an instant",
			&SignalArgs{Handle: sampleHandle, Signal: 15, Tree: true, At: sampleReal}),
		req(10, MethodFreeze, "thaw a frozen process", &FreezeArgs{Handle: sampleHandle, Thaw: true}),
		req(11, MethodStdin, "write non-UTF-8 bytes to stdin and close it",
			&StdinArgs{Handle: sampleHandle, Data: []byte("yes\n\xff\xfe\x00"), EOF: true}),
		req(12, MethodResize, "resize the pty", &ResizeArgs{Handle: sampleHandle, Rows: 60, Cols: 250}),
		req(13, MethodStatus, "status of one process", &HandleArgs{Handle: sampleHandle}),
		req(14, MethodList, "list processes, no arguments", nil),
		req(15, MethodWait, "wait for a process to end", &HandleArgs{Handle: sampleHandle}),
		req(16, MethodRelease, "forget an ended process", &HandleArgs{Handle: sampleHandle}),
		req(17, MethodSubscribe, "subscribe to stderr from an offset past 4 GiB",
			&SubscribeArgs{Handle: sampleHandle, Stream: Stderr, From: sampleOffset, Credit: 4 << 20}),
		req(18, MethodUnsubscribe, "end a subscription", &UnsubscribeArgs{Sub: 3}),
		req(19, MethodRead, "read 256 KiB of stdout past 4 GiB",
			&ReadArgs{Handle: sampleHandle, Stream: Stdout, Offset: sampleOffset, Max: 256 << 10}),
		req(20, MethodSampleOnce, "one sample of memory, load and two processes",
			&SampleArgs{Sources: []string{SourceMem, SourceLoad, SourceProc},
				Handles: []uint64{sampleHandle}, PIDs: []uint32{1}}),
		req(21, MethodSampleSub, "100 Hz samples of CPU and one interface with an odd name",
			&SampleArgs{Sources: []string{SourceCPU, SourceNet}, Devs: [][]byte{[]byte("veth\xff0")},
				Period: 10_000_000}),
		req(22, MethodSampleUnsub, "end a sample subscription", &UnsubscribeArgs{Sub: 4}),
		req(23, MethodFilePut, "open a put of 5 GiB, resuming, with its first chunk", samplePut()),
		req(24, MethodFileGet, "get a file past 4 GiB, resuming, with 4 MiB of credit",
			&GetArgs{Path: []byte("/srv/runs/042/trace.\xff"), Offset: sampleOffset, Credit: 4 << 20}),
		req(25, MethodCollect, "keep the files of an ended process", &HandleArgs{Handle: sampleHandle}),
		req(26, MethodProbe, "is port 8080 on the daemon's own host accepting connections?",
			&ProbeArgs{Port: 8080, Host: "localhost", Timeout: 500_000_000}),
	}
}

func responseSamples() []sample {
	res := func(id uint32, method, desc string, result Message) sample {
		return sample{name: "response-" + method, desc: desc, kind: KindResponse, id: id,
			method: method, body: result}
	}
	return []sample{
		res(1, MethodHostInfo, "host.info result", sampleHostInfo()),
		res(7, MethodStart, "proc.start result",
			&StartResult{Handle: sampleHandle, PID: samplePIDMax, New: true, State: "staged"}),
		res(8, MethodTrigger, "a result without fields: {}", nil),
		res(9, MethodSignal, "proc.signal result: when the signal was sent",
			&SignalResult{Real: sampleReal, Mono: sampleMono}),
		res(13, MethodStatus, "proc.status result of an exited process", &sampleList().Procs[1]),
		res(14, MethodList, "proc.list result: one running, one exited", sampleList()),
		res(15, MethodWait, "proc.wait result: the exit record", ptr(sampleExit())),
		res(17, MethodSubscribe, "out.subscribe result",
			&SubscribeResult{Sub: 3, Start: sampleOffset, Length: sampleOffset + 4096}),
		res(19, MethodRead, "out.read result with non-UTF-8 bytes",
			&ReadResult{Offset: sampleOffset, Data: []byte("loss=0.173\n\xff\xfe\x1b[0m"),
				Length: sampleOffset + 4096, EOF: false}),
		res(21, MethodSampleSub, "sample.subscribe result, period rounded up to 20 ms",
			&SampleSubResult{Sub: 4, Period: 20_000_000}),
		res(20, MethodSampleOnce, "sample.once result: every source", sampleSample(0)),
		res(23, MethodFilePut, "file.put result: resume after 4 MiB",
			&PutResult{Xfer: 2, Have: 4 << 20, Credit: 8 << 20, Chunk: 256 << 10}),
		res(24, MethodFileGet, "file.get result of a tree listing", sampleGetList()),
		res(25, MethodCollect, "proc.collect result: one kept, one missing", sampleCollect()),
		res(26, MethodProbe, "net.probe result: nothing listens there yet",
			&ProbeResult{Errno: 111, Sys: "ECONNREFUSED", Why: "connect: connection refused", Dur: 61_000}),
		{name: "response-error", desc: "SPAWN_FAILED with step and errno", kind: KindResponse,
			id: 7, method: MethodStart, body: sampleSpawnError(), isErr: true},
	}
}

func eventSamples() []sample {
	ev := func(id uint32, desc string, body Message) sample {
		name := reflect.ValueOf(body).Elem().Field(0).String()
		return sample{name: "event-" + name, desc: desc, kind: KindEvent, id: id, body: body}
	}
	return []sample{
		ev(3, "stdout bytes past 4 GiB, not UTF-8", &Out{K: EventOut, Handle: sampleHandle,
			Stream: Stdout, Offset: sampleOffset, Mono: sampleMono,
			Data: []byte("epoch 3 loss=0.173\n\xff\xfe\x1b[0m")}),
		ev(3, "bytes lost to the memory budget", &Gap{K: EventGap, Handle: sampleHandle,
			Stream: Stdout, From: sampleOffset, To: sampleOffset + 1<<20, Why: "mem-budget"}),
		ev(3, "stdout ended and was all sent", &EOS{K: EventEOS, Handle: sampleHandle,
			Stream: Stdout, Length: sampleOffset + 4096}),
		ev(0, "a staged process started running", &State{K: EventState, Handle: sampleHandle,
			PID: samplePIDMax, State: "running", Real: sampleReal, Mono: sampleMono}),
		ev(0, "killed by SIGKILL after its timeout", ptr(sampleExit())),
		ev(4, "the sixth sample of subscription 4, after a skip", sampleSample(6)),
		ev(5, "bytes of a file.get transfer past 4 GiB", &File{K: EventFile, Xfer: 5,
			Offset: sampleOffset, Data: []byte("\x00\x01\xff\xfe trace")}),
		ev(5, "end of a file.get transfer, the file changed", &FileEnd{K: EventFileEnd, Xfer: 5,
			Size: sampleOffset + 4096, SHA: pattern(32, 7), Changed: true}),
		ev(0, "chdir failed with ENOENT", &Failed{K: EventFailed, Handle: sampleHandle,
			Step: "chdir", Errno: 2, Sys: "ENOENT", Real: sampleReal, Mono: sampleMono}),
	}
}

func controlSamples() []sample {
	return []sample{
		{name: "credit", desc: "4 MiB more for subscription 3", kind: KindCredit, id: 3,
			body: &Credit{Bytes: 4 << 20}},
		{name: "ping", desc: "clock probe", kind: KindPing, id: 5, body: &Ping{T1: sampleReal}},
		{name: "pong", desc: "clock probe answered", kind: KindPong, id: 5,
			body: &Pong{T1: sampleReal, T2: sampleReal + 150_000, T3: sampleReal + 170_000,
				M2: sampleMono + 150_000, M3: sampleMono + 170_000}},
		{name: "goaway", desc: "daemon stopping after request 41", kind: KindGoaway,
			body: &Goaway{Err: *NewError(CodeShuttingDown, "daemon stopping"), LastID: 41}},
	}
}

// samples returns every golden sample, freshly built.
func samples() []sample {
	var all []sample
	all = append(all, handshakeSamples()...)
	all = append(all, requestSamples()...)
	all = append(all, responseSamples()...)
	all = append(all, eventSamples()...)
	return append(all, controlSamples()...)
}

func ptr[T any](v T) *T { return &v }

// appendSample appends the payload of s, envelope included, to b.
func appendSample(b []byte, s sample) ([]byte, error) {
	switch {
	case s.kind == KindRequest:
		return AppendRequest(b, s.id, s.method, marshaler(s.body))
	case s.isErr:
		return AppendErrorResponse(b, s.id, s.body.(*Error))
	case s.kind == KindResponse:
		return AppendResponse(b, s.id, marshaler(s.body))
	case s.kind == KindEvent:
		return AppendEvent(b, s.id, s.body)
	}
	return s.body.MarshalMsg(AppendEnvelope(b, s.kind, s.id))
}

// marshaler turns a nil Message into a nil interface, which the Append
// functions send as an empty map.
func marshaler(m Message) interface{ MarshalMsg([]byte) ([]byte, error) } {
	if m == nil {
		return nil
	}
	return m
}

// frameOf returns the frame of s as written by a FrameWriter.
func frameOf(s sample) ([]byte, error) {
	var buf bytes.Buffer
	fw := NewFrameWriter(&buf)
	b, err := appendSample(fw.Begin(), s)
	if err != nil {
		return nil, err
	}
	if err := fw.End(b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// typeOf returns a fresh value of the type of s's body, or nil.
func typeOf(s sample) Message {
	if s.body == nil {
		return nil
	}
	return reflect.New(reflect.TypeOf(s.body).Elem()).Interface().(Message)
}

// normalize returns a copy of v in which every empty slice is nil, so
// that values can be compared whatever msgp chose for empty bin fields.
func normalize(v any) any {
	rv := reflect.ValueOf(v)
	out := reflect.New(rv.Type()).Elem()
	normalizeInto(out, rv)
	return out.Interface()
}

func normalizeInto(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if !src.IsNil() {
			dst.Set(reflect.New(src.Type().Elem()))
			normalizeInto(dst.Elem(), src.Elem())
		}
	case reflect.Struct:
		for i := range src.NumField() {
			normalizeInto(dst.Field(i), src.Field(i))
		}
	case reflect.Slice:
		if src.Len() > 0 {
			dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
			for i := range src.Len() {
				normalizeInto(dst.Index(i), src.Index(i))
			}
		}
	default:
		dst.Set(src)
	}
}

// equalValues reports whether a and b are equal but for nil and empty
// slices.
func equalValues(a, b any) bool { return reflect.DeepEqual(normalize(a), normalize(b)) }

// describe formats v for a failure message.
func describe(v any) string { return fmt.Sprintf("%+v", v) }
