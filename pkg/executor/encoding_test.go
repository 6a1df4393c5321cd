package executor

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/assayproj/assay/pkg/report"
)

func TestVerdictEncodingRoundTripsAndIsSmall(t *testing.T) {
	data, err := os.ReadFile("../report/testdata/report.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	c := &verdictCodec{}
	for range 3 { // pooled writers and readers give the same bytes
		enc, err := c.encode(&rep)
		if err != nil {
			t.Fatal(err)
		}
		var got report.Report
		if err := c.decode(enc, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, &rep) {
			t.Fatalf("decoded report differs:\n%+v\nwant\n%+v", got, rep)
		}
		plain, _ := json.Marshal(&rep)
		t.Logf("golden report: %d bytes of JSON, %d encoded", len(plain), len(enc))
		if len(enc) > len(plain)/2 {
			t.Fatalf("encoded verdict is %d bytes, the JSON %d: the encoding does not compress", len(enc), len(plain))
		}
	}
	// Plain JSON, as earlier versions cached it, is still read.
	var legacy report.Report
	if err := c.decode(data, &legacy); err != nil || legacy.MediaType != report.MediaType {
		t.Fatalf("plain JSON verdict: %v", err)
	}
	if err := c.decode([]byte{0x7f, 1, 2}, &legacy); err == nil {
		t.Fatal("an unknown encoding was decoded")
	}
}
