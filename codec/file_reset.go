// SPDX-License-Identifier: Apache-2.0

package codec

// Reset methods of the file.* and proc.collect bodies; see the note at
// the top of reset.go on why they exist and on aliasing.

// Reset clears a, keeping the storage of Path, SHA, Data and Root.
func (a *PutArgs) Reset() {
	*a = PutArgs{Path: a.Path[:0], SHA: a.SHA[:0], Data: a.Data[:0], Root: a.Root[:0]}
}

// Reset clears r.
func (r *PutResult) Reset() { *r = PutResult{} }

// Reset clears a, keeping the storage of Path and Root.
func (a *GetArgs) Reset() { *a = GetArgs{Path: a.Path[:0], Root: a.Root[:0]} }

// Reset clears r, and every element in the storage of Files.
func (r *GetResult) Reset() { *r = GetResult{Files: resetAll(r.Files)} }

// Reset clears f, keeping the storage of Data.
func (f *File) Reset() { *f = File{Data: f.Data[:0]} }

// Reset clears f, keeping the storage of SHA.
func (f *FileEnd) Reset() { *f = FileEnd{SHA: f.SHA[:0]} }

// Reset clears r, and every element in the storage of Files.
func (r *CollectResult) Reset() { *r = CollectResult{Files: resetAll(r.Files)} }
