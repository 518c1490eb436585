// SPDX-License-Identifier: Apache-2.0

package codec

//go:generate go tool msgp -file=file.go -o=file_gen.go -io=false -tests=false

// Arguments, results and events of file.put, file.get and proc.collect
// (spec/PROTOCOL.md 11.13, 11.16, 11.17, 12.7).

//msgp:limit arrays:131072 maps:1024
//msgp:noduplicates

// Event names of file.get transfers.
const (
	EventFile    = "file"
	EventFileEnd = "fileend"
)

// PutArgs are the arguments of file.put. With Xfer 0 they open a transfer
// and every field is read; otherwise only Offset, Data and Abort are.
type PutArgs struct {
	Xfer   uint32 `msg:"x"`
	Path   []byte `msg:"path"`   // absolute path of the target
	Size   uint64 `msg:"size"`   // bytes of the whole file
	SHA    []byte `msg:"sha"`    // SHA-256 of the whole file, 32 bytes
	Mode   uint32 `msg:"mode"`   // permission bits (& 07777), set without umask
	Mtime  uint64 `msg:"mtime"`  // CLOCK_REALTIME ns; 0: the time of writing
	Resume bool   `msg:"resume"` // continue a part file left by an earlier transfer
	Sync   bool   `msg:"sync"`   // fsync the file and its directory before done
	Offset uint64 `msg:"o"`      // offset of Data; must be the daemon's Have
	Data   []byte `msg:"d,limit=16777216"`
	Abort  bool   `msg:"abort"`  // end the transfer and delete its part file
	MkDirs bool   `msg:"mkdirs"` // create missing parent directories (mode 0755)
	Dir    bool   `msg:"dir"`    // Path is a directory: create it if missing, set Mode and Mtime
	Root   []byte `msg:"root"`   // if set, Path lies beneath it and no symbolic link may lead out
}

// PutResult is the result of file.put.
type PutResult struct {
	Xfer   uint32 `msg:"x"`
	Have   uint64 `msg:"have"`   // bytes held: the next Offset expected
	Credit uint64 `msg:"credit"` // bytes of Data that may be unanswered at once
	Chunk  uint32 `msg:"chunk"`  // largest Data accepted in one request
	Done   bool   `msg:"done"`   // verified, renamed into place; the transfer is over
}

// GetArgs are the arguments of file.get. A nonzero Xfer cancels that
// transfer and nothing else is read.
type GetArgs struct {
	Xfer   uint32 `msg:"x"`
	Path   []byte `msg:"path"`   // absolute path
	Offset uint64 `msg:"o"`      // first byte wanted, to resume
	Credit uint64 `msg:"credit"` // initial credit; 0: 1 MiB
	List   bool   `msg:"list"`   // list the tree at Path in Files; start no transfer
	Root   []byte `msg:"root"`   // if set, Path lies beneath it and no symbolic link may lead out
}

// GetResult is the result of file.get.
type GetResult struct {
	Xfer  uint32      `msg:"x"`     // transfer id: the envelope id of its events; 0 with List
	Size  uint64      `msg:"size"`  // the file's size when opened
	Mode  uint32      `msg:"mode"`  // st_mode & 07777
	Mtime uint64      `msg:"mtime"` // CLOCK_REALTIME ns
	Files []FileEntry `msg:"files"` // with List: the tree, parents before children
}

// FileEntry is one file or directory of a listed tree.
type FileEntry struct {
	Path  []byte `msg:"path"` // relative to the listed path; empty for the path itself
	Dir   bool   `msg:"dir"`
	Size  uint64 `msg:"size"`
	Mode  uint32 `msg:"mode"`
	Mtime uint64 `msg:"mtime"`
}

// File carries bytes of a file.get transfer (event "file"; the envelope
// id is the transfer id).
type File struct {
	K      string `msg:"k"`
	Xfer   uint32 `msg:"x"`
	Offset uint64 `msg:"o"`
	Data   []byte `msg:"d,limit=16777216"`
}

// FileEnd closes a file.get transfer (event "fileend").
type FileEnd struct {
	K       string `msg:"k"`
	Xfer    uint32 `msg:"x"`
	Size    uint64 `msg:"size"`
	SHA     []byte `msg:"sha"`     // SHA-256 of bytes [0, Size) as read
	Changed bool   `msg:"changed"` // size or mtime changed while it was read
}

// CollectResult is the result of proc.collect: one entry per path of
// StartArgs.Collect, in order.
type CollectResult struct {
	Files []Collected `msg:"files"`
}

// Collected says what was kept of one collected path.
type Collected struct {
	Path  []byte `msg:"path"`  // as given in StartArgs.Collect
	Kept  []byte `msg:"kept"`  // absolute path of the daemon's copy; empty if none
	Size  uint64 `msg:"size"`  // bytes of the copy
	SHA   []byte `msg:"sha"`   // SHA-256 of the copy; empty if none
	Mode  uint32 `msg:"mode"`  // st_mode & 07777 of the original
	Mtime uint64 `msg:"mtime"` // CLOCK_REALTIME ns of the original
	Errno uint32 `msg:"errno"` // why nothing was kept; 0 if kept
	Sys   string `msg:"sys"`   // symbolic errno, e.g. "ENOENT"
}
