package ingest

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// collectChunks reads every chunk from s.
func collectChunks(t testing.TB, s *Splitter) []Chunk {
	t.Helper()
	var chunks []Chunk
	for {
		c, err := s.Next()
		if errors.Is(err, io.EOF) {
			return chunks
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(c.Data) == 0 {
			t.Fatal("Next returned an empty chunk")
		}
		chunks = append(chunks, c)
	}
}

// checkChunks verifies chunks cover input from start exactly, end at record
// ends (outside quotes when quoteAware), and carry the right line numbers
// and offsets.
func checkChunks(t testing.TB, input []byte, start int, chunks []Chunk, quoteAware bool) {
	t.Helper()
	pos := start
	for i, c := range chunks {
		if c.Offset != int64(pos) {
			t.Fatalf("chunk %d: Offset = %d, want %d", i, c.Offset, pos)
		}
		if want := int64(bytes.Count(input[:pos], []byte{'\n'})) + 1; c.FirstLine != want {
			t.Fatalf("chunk %d: FirstLine = %d, want %d", i, c.FirstLine, want)
		}
		if !bytes.Equal(c.Data, input[pos:pos+len(c.Data)]) {
			t.Fatalf("chunk %d: Data differs from input at %d", i, pos)
		}
		pos += len(c.Data)
		if pos == len(input) {
			continue
		}
		if c.Data[len(c.Data)-1] != '\n' {
			t.Fatalf("chunk %d does not end a line: %q", i, c.Data)
		}
		if quoteAware && bytes.Count(input[:pos], []byte{'"'})%2 != 0 {
			t.Fatalf("chunk %d ends inside a quoted field: %q", i, c.Data)
		}
	}
	if pos != len(input) {
		t.Fatalf("chunks cover %d bytes, input has %d", pos, len(input))
	}
}

func TestSplitter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		input      string
		quoteAware bool
	}{
		{name: "empty", input: ""},
		{name: "one line no newline", input: "a,b,c"},
		{name: "lines", input: "a\nbb\nccc\ndddd\n"},
		{name: "blank lines", input: "\n\n\na\n\n"},
		{name: "CRLF", input: "a,b\r\nc,d\r\n", quoteAware: true},
		{name: "long line", input: strings.Repeat("x", 5000) + "\ny\n"},
		{name: "quoted newlines", input: "a,\"x\ny\nz\",b\nc,\"\"\"\n\",d\ne\n", quoteAware: true},
		{name: "quotes ignored when not quote aware", input: "{\"a\":\"\n\"b\n", quoteAware: false},
		{name: "unterminated quote runs to EOF", input: "a\n\"b\nc\nd", quoteAware: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, size := range []int{1, 2, 3, 5, 8, 64, 0} {
				chunks := collectChunks(t, NewSplitter(strings.NewReader(tt.input), size, tt.quoteAware))
				checkChunks(t, []byte(tt.input), 0, chunks, tt.quoteAware)
				// A reader that hands out one byte at a time changes nothing.
				slow := collectChunks(t, NewSplitter(iotest.OneByteReader(strings.NewReader(tt.input)), size, tt.quoteAware))
				checkChunks(t, []byte(tt.input), 0, slow, tt.quoteAware)
			}
		})
	}
}

func TestSplitterChunkSize(t *testing.T) {
	t.Parallel()
	input := strings.Repeat("0123456789\n", 10_000)
	chunks := collectChunks(t, NewSplitter(strings.NewReader(input), 4096, false))
	checkChunks(t, []byte(input), 0, chunks, false)
	for i, c := range chunks[:len(chunks)-1] {
		if len(c.Data) < 4096-11 || len(c.Data) > 4096 {
			t.Fatalf("chunk %d has %d bytes, want about 4096", i, len(c.Data))
		}
	}
}

func TestSplitterChunksOwnTheirData(t *testing.T) {
	t.Parallel()
	input := strings.Repeat("abc,def\n", 1000)
	s := NewSplitter(strings.NewReader(input), 100, true)
	var kept [][]byte
	var copies []string
	for {
		c, err := s.Next()
		if err != nil {
			break
		}
		kept = append(kept, c.Data)
		copies = append(copies, string(c.Data))
	}
	for i := range kept {
		if string(kept[i]) != copies[i] {
			t.Fatalf("chunk %d changed after later Next calls", i)
		}
	}
}

func TestSplitterReadHeaderLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		input      string
		quoteAware bool
		want       string // header without line end
		wantErr    error
		restAt     int // offset where chunks start
	}{
		{name: "plain", input: "a,b\n1,2\n", want: "a,b", restAt: 4},
		{name: "CRLF", input: "a,b\r\n1,2\r\n", want: "a,b", restAt: 5},
		{name: "blank lines first", input: "\n \r\na,b\n1,2\n", want: "a,b", restAt: 8},
		{name: "header only", input: "a,b", want: "a,b", restAt: 3},
		{name: "quoted newline in header", input: "\"a\nb\",c\n1,2\n", quoteAware: true, want: "\"a\nb\",c", restAt: 8},
		{name: "empty", input: "", wantErr: io.EOF},
		{name: "only blank", input: "\n\n  \n", wantErr: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, size := range []int{1, 3, 1 << 20} {
				s := NewSplitter(strings.NewReader(tt.input), size, tt.quoteAware)
				h, err := s.ReadHeaderLine()
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("size %d: ReadHeaderLine = %q, %v; want %v", size, h, err, tt.wantErr)
					}
					return
				}
				if err != nil || string(h) != tt.want {
					t.Fatalf("size %d: ReadHeaderLine = %q, %v; want %q", size, h, err, tt.want)
				}
				chunks := collectChunks(t, s)
				checkChunks(t, []byte(tt.input), tt.restAt, chunks, tt.quoteAware)
			}
		})
	}
}

func TestSplitterErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	t.Run("read error", func(t *testing.T) {
		t.Parallel()
		s := NewSplitter(iotest.ErrReader(boom), 16, false)
		if _, err := s.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next = %v, want boom", err)
		}
		if _, err := s.Next(); !errors.Is(err, boom) {
			t.Fatalf("second Next = %v, want boom again", err)
		}
	})
	t.Run("data then error", func(t *testing.T) {
		t.Parallel()
		s := NewSplitter(io.MultiReader(strings.NewReader("a\nb\n"), iotest.ErrReader(boom)), 1<<20, false)
		if _, err := s.Next(); !errors.Is(err, boom) {
			t.Fatalf("Next = %v, want boom", err)
		}
	})
	t.Run("no progress", func(t *testing.T) {
		t.Parallel()
		s := NewSplitter(emptyReader{}, 16, false)
		if _, err := s.Next(); !errors.Is(err, io.ErrNoProgress) {
			t.Fatalf("Next = %v, want io.ErrNoProgress", err)
		}
	})
	t.Run("record too long", func(t *testing.T) {
		t.Parallel()
		input := "a,b\n\"" + strings.Repeat("x", MaxRecordBytes+10) + "\n"
		s := NewSplitter(strings.NewReader(input), 1024, true)
		var err error
		for err == nil {
			_, err = s.Next()
		}
		if !errors.Is(err, ErrRecordTooLong) || !strings.Contains(err.Error(), "line 2") {
			t.Fatalf("Next = %v, want ErrRecordTooLong at line 2", err)
		}
	})
	t.Run("header too long", func(t *testing.T) {
		t.Parallel()
		s := NewSplitter(strings.NewReader(strings.Repeat("x", MaxRecordBytes+10)), 1024, false)
		if _, err := s.ReadHeaderLine(); !errors.Is(err, ErrRecordTooLong) {
			t.Fatalf("ReadHeaderLine = %v, want ErrRecordTooLong", err)
		}
	})
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// TestSplitThenParse checks that chunks of any size parse to exactly the
// items of the whole input: the splitter never cuts a quoted record.
func TestSplitThenParse(t *testing.T) {
	t.Parallel()
	header := "record_id,type,iccid,start_time,apn,note"
	var b strings.Builder
	r := rng{s: 9}
	pieces := []string{"", "plain", `"quoted"`, `"with,comma"`, `"two` + "\n" + `lines"`, `"dq ""x"""`, `"` + "\r\n" + `"`, `"a""` + "\n" + `""b"`}
	for i := range 300 {
		b.WriteString("r")
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(",data," + testICCID + ",2024-03-05T10:00:00Z,")
		b.WriteString(pieces[r.intn(len(pieces))])
		b.WriteString(",")
		b.WriteString(pieces[r.intn(len(pieces))])
		switch r.intn(10) {
		case 0:
			b.WriteString("\r\n")
		case 1:
			b.WriteString("\n\n")
		case 2:
			b.WriteString(",extra\n")
		default:
			b.WriteString("\n")
		}
	}
	body := b.String()
	whole := parseCSV(t, header, body, 1<<30)
	if len(whole) != 300 {
		t.Fatalf("whole input gives %d items, want 300", len(whole))
	}
	for size := 1; size <= 80; size++ {
		got := parseCSV(t, header, body, size)
		if reflect.DeepEqual(whole, got) {
			continue
		}
		if diff := cmp.Diff(whole, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("chunk size %d: items differ (-whole +chunked):\n%s", size, diff)
		}
	}
}

func FuzzSplitter(f *testing.F) {
	f.Add([]byte("a,b\n\"c\nd\",e\n"), 3, true)
	f.Add([]byte("{\"a\":1}\n\n{\"b\":\"\n"), 1, false)
	f.Add([]byte("\"\"\"\n\n\"\r\n"), 2, true)
	f.Fuzz(func(t *testing.T, data []byte, size int, quoteAware bool) {
		size = 1 + abs(size)%64
		chunks := collectChunks(t, NewSplitter(bytes.NewReader(data), size, quoteAware))
		checkChunks(t, data, 0, chunks, quoteAware)
		var joined []byte
		for _, c := range chunks {
			joined = append(joined, c.Data...)
		}
		if !bytes.Equal(joined, data) {
			t.Fatalf("chunks joined = %q, want %q", joined, data)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
