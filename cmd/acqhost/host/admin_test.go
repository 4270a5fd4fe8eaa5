package host

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func getJSONFrom(t *testing.T, url string, v any) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, r.Status, body)
	}
	if strings.Contains(string(body), panCUP) {
		t.Errorf("GET %s shows a full PAN", url)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func put(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

func TestAdminAPI(t *testing.T) {
	h := startHost(t, testConfig(t.TempDir()))
	web := httptest.NewServer(h.s.Admin())
	defer web.Close()
	c := dial(t, h.addr)
	c.signIn()
	c.call(c.sale(1000, panCUP), true)
	c.call(c.sale(1051, panVisa), true)

	var ts []Txn
	getJSONFrom(t, web.URL+"/transactions", &ts)
	if len(ts) != 2 || ts[0].MaskedPAN != "621234******1232" || ts[1].RC != "51" {
		t.Fatalf("transactions %+v", ts)
	}
	getJSONFrom(t, web.URL+"/transactions?tid="+tid2, &ts)
	if len(ts) != 0 {
		t.Errorf("tid filter: %d", len(ts))
	}
	var bs []Batch
	getJSONFrom(t, web.URL+"/batches", &bs)
	if len(bs) != 1 || bs[0].Host.Domestic.DebitAmount != 1000 || bs[0].State != BatchOpen {
		t.Errorf("batches %+v", bs)
	}
	var st Stats
	getJSONFrom(t, web.URL+"/stats", &st)
	if st.SignIns != 1 || st.Transactions["sale/approved"] != 1 || st.Transactions["sale/declined"] != 1 || !st.Faults.NoAnswer98 {
		t.Errorf("stats %+v", st)
	}

	code, body := put(t, web.URL+"/faults", `{"latency":"60ms","drop_every":4}`)
	if code != http.StatusOK {
		t.Fatalf("PUT /faults: %d %s", code, body)
	}
	if f := h.s.Faults(); f.Latency != 60*time.Millisecond || f.DropEvery != 4 || f.CloseAfter != 0 || !f.NoAnswer98 {
		t.Errorf("faults after PUT %+v", f)
	}
	var f Faults
	getJSONFrom(t, web.URL+"/faults", &f)
	if f.Latency != 60*time.Millisecond || f.DropEvery != 4 {
		t.Errorf("GET /faults %+v", f)
	}
	for _, bad := range []string{`{"latency":"soon"}`, `{"drop_every":-1}`, `{"close_after":"x"}`, `not json`} {
		if code, _ := put(t, web.URL+"/faults", bad); code != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, code)
		}
	}
	if f := h.s.Faults(); f.DropEvery != 4 {
		t.Errorf("a rejected PUT changed the faults: %+v", f)
	}
	r, err := http.Post(web.URL+"/transactions", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /transactions: %d", r.StatusCode)
	}
}
