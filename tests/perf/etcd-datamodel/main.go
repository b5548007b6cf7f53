// etcd-datamodel: the data-model cells of issue 19, run against a 3-member
// etcd v3 cluster, so that tunekv's SCAN, TXN and WATCH can be set beside
// etcd's Range, Txn and Watch on the same machine in the same run
// (scripts/measure-vs-etcd-datamodel.sh drives it; docs/performance.md,
// "Data model beside etcd", has the results).
//
// Cells (-cell):
//
//	range100  a Range by prefix that returns the 100 keys of one of
//	          -prefixes prefixes ("key-NNNNNN" holds key-NNNNNN00..99, the
//	          names tunekv-bench --mix scan=100 reads), 100-byte values;
//	          -consistency serializable (the member's own state) or
//	          linearizable (ReadIndex through the leader). A reply without
//	          exactly 100 keys counts as an error.
//	txn       a Txn with 2 compares (mod_revision of "{key-NNNNNNNN}:a" and
//	          ":b" != 1, which hold) and 2 puts of the value into both keys,
//	          in both branches: tunekv-bench --mix txn=100's request. A Txn
//	          whose compares did not hold counts as an error.
//	watch     -watchers watch streams on the one key "watch-key", one stream
//	          each, spread over -conns connections round-robin over the
//	          members (the first to the leader); one writer puts to the key
//	          at -rate puts a second (one put at a time) through its own
//	          connection to the leader. Each put's value starts with its
//	          sequence number, and the writer notes the time before it sends
//	          the put, so an event's latency is its arrival time less its
//	          put's issue time, on one monotonic clock in this one process.
//	          The puts keep a schedule: a put that is late goes at once, so
//	          when etcd cannot keep the pace the writer becomes a closed
//	          loop (puts_per_s says what was done, puts_late how often).
//	          ops_per_s is events delivered a second, "all" the event
//	          latencies, "put" the puts', errors the events that never came
//	          (after -drain), events_disorder those out of sequence.
//	preload   only put the range100 keys (once, before the cells).
//
// range100 and txn are closed loops of -clients requests outstanding over
// -conns connections (client i uses connection i % conns); connection 0 goes
// to the leader and the others round-robin over the other members, like the
// bench-anchors kit's "target all". Requests go through the raw etcdserverpb
// gRPC stubs (no clientv3 retry or balancer layers), the cheapest client.
//
// Latency is kept for every request started inside the measured window, so
// percentiles are exact. The last output line is "RESULT {json}" with the
// kit's field names (ops_per_s, all.p50_us, cpu_pct_servers_sum, ...).
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"math/rand"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"google.golang.org/grpc"
)

const keysPerPrefix = 100

type config struct {
	endpoints   []string
	cell        string
	consistency string
	clients     int
	conns       int
	prefixes    int
	pairs       int
	valSize     int
	watchers    int
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	drain       time.Duration
	timeout     time.Duration
	preload     bool
	compact     bool
	cpuPids     []int
	meta        string
	seed        int64
}

// conn is one gRPC connection to one member with the stubs the cells use.
type conn struct {
	cc    *grpc.ClientConn
	kv    pb.KVClient
	watch pb.WatchClient
}

func dial(ep string) (*conn, error) {
	host := strings.TrimPrefix(ep, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cc, err := grpc.DialContext(ctx, host, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		return nil, err
	}
	return &conn{cc: cc, kv: pb.NewKVClient(cc), watch: pb.NewWatchClient(cc)}, nil
}

// leaderIndex asks each member for its status and returns the index (in
// eps) of the one that says it leads.
func leaderIndex(eps []string) (int, error) {
	for i, ep := range eps {
		c, err := dial(ep)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := pb.NewMaintenanceClient(c.cc).Status(ctx, &pb.StatusRequest{})
		cancel()
		c.cc.Close()
		if err == nil && st.Header.MemberId == st.Leader {
			return i, nil
		}
	}
	return 0, errors.New("no leader found")
}

// dialAll opens n connections: the first to the leader, the next ones
// round-robin over the members after it.
func dialAll(eps []string, n int) ([]*conn, error) {
	li, err := leaderIndex(eps)
	if err != nil {
		return nil, err
	}
	out := make([]*conn, n)
	for j := range out {
		if out[j], err = dial(eps[(li+j)%len(eps)]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func keyName(i int) []byte  { return []byte(fmt.Sprintf("key-%08d", i)) }
func prefixOf(p int) []byte { return []byte(fmt.Sprintf("key-%06d", p)) }

// prefixEnd is the first key after every key that starts with p (etcd's
// range_end for a prefix): p with its last byte incremented.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	end[len(end)-1]++
	return end
}

func value(n int, seed int64) []byte {
	v := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(v)
	for i := range v { // printable, so etcdctl output stays readable
		v[i] = 'a' + v[i]%26
	}
	return v
}

// preload puts every key of the range100 cell once, cfg.clients at a time.
func preload(cfg *config, conns []*conn, val []byte) error {
	total := int64(cfg.prefixes * keysPerPrefix)
	var next int64 = -1
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < cfg.clients; w++ {
		wg.Add(1)
		go func(c *conn) {
			defer wg.Done()
			for i := atomic.AddInt64(&next, 1); i < total; i = atomic.AddInt64(&next, 1) {
				ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
				_, err := c.kv.Put(ctx, &pb.PutRequest{Key: keyName(int(i)), Value: val})
				cancel()
				if err != nil {
					firstErr.Store(err)
					return
				}
			}
		}(conns[w%len(conns)])
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return e.(error)
	}
	return nil
}

// compact drops every old revision (physically), as the kit does before each
// cell, so that no cell pays for the history an earlier one left.
func compact(c *conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := c.kv.Range(ctx, &pb.RangeRequest{Key: []byte("key-"), Limit: 1})
	if err != nil {
		return err
	}
	_, err = c.kv.Compact(ctx, &pb.CompactionRequest{Revision: r.Header.Revision, Physical: true})
	if err != nil && strings.Contains(err.Error(), "compacted") {
		return nil // nothing written since the last compaction
	}
	return err
}

// ---- closed loop: range100 and txn ----

type worker struct {
	lat      []int64 // ns, requests started inside the window
	errs     int64
	firstErr error
}

func doRange(ctx context.Context, c *conn, rng *rand.Rand, cfg *config) error {
	p := prefixOf(rng.Intn(cfg.prefixes))
	r, err := c.kv.Range(ctx, &pb.RangeRequest{Key: p, RangeEnd: prefixEnd(p),
		Serializable: cfg.consistency == "serializable"})
	if err == nil && len(r.Kvs) != keysPerPrefix {
		err = fmt.Errorf("range %s: %d keys, not %d", p, len(r.Kvs), keysPerPrefix)
	}
	return err
}

func txnKeys(i int) (a, b []byte) {
	return []byte(fmt.Sprintf("{key-%08d}:a", i)), []byte(fmt.Sprintf("{key-%08d}:b", i))
}

func doTxn(ctx context.Context, c *conn, rng *rand.Rand, cfg *config, val []byte) error {
	a, b := txnKeys(rng.Intn(cfg.pairs))
	cmp := func(k []byte) *pb.Compare {
		return &pb.Compare{Result: pb.Compare_NOT_EQUAL, Target: pb.Compare_MOD, Key: k,
			TargetUnion: &pb.Compare_ModRevision{ModRevision: 1}}
	}
	put := func(k []byte) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
			RequestPut: &pb.PutRequest{Key: k, Value: val}}}
	}
	ops := []*pb.RequestOp{put(a), put(b)}
	r, err := c.kv.Txn(ctx, &pb.TxnRequest{Compare: []*pb.Compare{cmp(a), cmp(b)},
		Success: ops, Failure: ops})
	if err == nil && !r.Succeeded {
		err = fmt.Errorf("txn %s: the compares did not hold", a)
	}
	return err
}

// closedLoop runs cfg.clients workers until the window ends and returns
// their latencies and errors.
func closedLoop(cfg *config, conns []*conn, val []byte, tStart, tEnd time.Time, gate chan struct{}) []*worker {
	ws := make([]*worker, cfg.clients)
	var wg sync.WaitGroup
	for w := range ws {
		ws[w] = &worker{lat: make([]int64, 0, 1<<14)}
		wg.Add(1)
		go func(w int, st *worker) {
			defer wg.Done()
			c := conns[w%len(conns)]
			rng := rand.New(rand.NewSource(cfg.seed*7919 + int64(w)))
			<-gate
			for {
				t0 := time.Now()
				if !t0.Before(tEnd) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
				var err error
				if cfg.cell == "range100" {
					err = doRange(ctx, c, rng, cfg)
				} else {
					err = doTxn(ctx, c, rng, cfg, val)
				}
				cancel()
				d := time.Since(t0).Nanoseconds()
				if err != nil {
					if st.errs == 0 {
						st.firstErr = err
					}
					st.errs++
				} else if !t0.Before(tStart) {
					st.lat = append(st.lat, d)
				}
			}
		}(w, ws[w])
	}
	close(gate)
	wg.Wait()
	return ws
}

// ---- watch ----

const watchKey = "watch-key"

// watcher is one watch stream and what it saw of the measured puts.
type watcher struct {
	stream   pb.Watch_WatchClient
	lat      []int64 // ns, put issue to event arrival, measured puts only
	lastSeq  int64   // highest sequence number seen, -1 before any
	disorder int64   // events that were not the next sequence number
}

// openWatchers creates cfg.watchers streams on "watch-key", waiting for each
// to be confirmed, so that no put is issued before every watch exists.
func openWatchers(ctx context.Context, cfg *config, conns []*conn) ([]*watcher, error) {
	ws := make([]*watcher, cfg.watchers)
	for i := range ws {
		s, err := conns[i%len(conns)].watch.Watch(ctx)
		if err != nil {
			return nil, err
		}
		err = s.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{
			CreateRequest: &pb.WatchCreateRequest{Key: []byte(watchKey)}}})
		if err != nil {
			return nil, err
		}
		r, err := s.Recv()
		if err != nil {
			return nil, err
		}
		if !r.Created {
			return nil, fmt.Errorf("watch %d: not created: %s", i, r.CancelReason)
		}
		ws[i] = &watcher{stream: s, lastSeq: -1, lat: make([]int64, 0, 1024)}
	}
	return ws, nil
}

// pace is what the writer and the watchers share: the issue time of every
// put by sequence number, on the clock since base, and the measured range.
type pace struct {
	base      time.Time
	issued    []int64 // ns since base; stored before the put is sent
	firstMeas int64   // first sequence number issued inside the window
	lastMeas  int64   // last one; -1 until the writer is done
}

// receive reads w's stream until it closes, noting each measured event's
// latency. It reads the issue time after the event has arrived, and the
// writer stored it before sending the put, so it is always there.
func (w *watcher) receive(p *pace, done *sync.WaitGroup) {
	defer done.Done()
	for {
		r, err := w.stream.Recv()
		if err != nil {
			return
		}
		now := time.Since(p.base).Nanoseconds()
		for _, ev := range r.Events {
			if ev.Kv == nil || len(ev.Kv.Value) < 8 {
				w.disorder++
				continue
			}
			seq := int64(binary.BigEndian.Uint64(ev.Kv.Value))
			if seq != w.lastSeq+1 {
				w.disorder++
			}
			atomic.StoreInt64(&w.lastSeq, seq)
			if seq >= atomic.LoadInt64(&p.firstMeas) && seq < int64(len(p.issued)) {
				if t := atomic.LoadInt64(&p.issued[seq]); t > 0 {
					w.lat = append(w.lat, now-t)
				}
			}
		}
	}
}

// write puts to the watched key at cfg.rate a second, one put at a time, on
// a fixed schedule (a late put is sent at once, not skipped). Returns the
// latencies of the measured puts.
func write(cfg *config, c *conn, p *pace, val []byte, tStart, tEnd time.Time) ([]int64, int64, error) {
	period := time.Duration(float64(time.Second) / cfg.rate)
	v := append([]byte(nil), val...)
	var lat []int64
	var late int64
	atomic.StoreInt64(&p.firstMeas, int64(len(p.issued)))
	for seq := int64(0); seq < int64(len(p.issued)); seq++ {
		at := p.base.Add(time.Duration(seq) * period)
		if !at.Before(tEnd) {
			break
		}
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		} else {
			late++
		}
		t0 := time.Now()
		if !t0.Before(tStart) && atomic.LoadInt64(&p.firstMeas) == int64(len(p.issued)) {
			atomic.StoreInt64(&p.firstMeas, seq)
		}
		binary.BigEndian.PutUint64(v, uint64(seq))
		atomic.StoreInt64(&p.issued[seq], t0.Sub(p.base).Nanoseconds())
		ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
		_, err := c.kv.Put(ctx, &pb.PutRequest{Key: []byte(watchKey), Value: v})
		cancel()
		if err != nil {
			return lat, late, err
		}
		if !t0.Before(tStart) {
			lat = append(lat, time.Since(t0).Nanoseconds())
		}
		p.lastMeas = seq
	}
	return lat, late, nil
}

// drain waits until every watcher has seen the last put, or cfg.drain
// passed; returns whether all did.
func drain(cfg *config, ws []*watcher, last int64) bool {
	deadline := time.Now().Add(cfg.drain)
	for {
		all := true
		for _, w := range ws {
			if atomic.LoadInt64(&w.lastSeq) < last {
				all = false
				break
			}
		}
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---- CPU accounting from /proc (the kit's fields) ----

const clkTck = 100.0 // USER_HZ on Linux

type proc struct {
	ticks   uint64
	start   uint64 // tells a reused PID apart
	kthread bool
}

type cpuSample struct {
	at       time.Time
	procs    map[int]proc
	self     uint64
	sysBusy  uint64
	sysTotal uint64
}

func readStat(path string) (p proc, ok bool) {
	b, err := ioutil.ReadFile(path)
	if err != nil {
		return p, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return p, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return p, false
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	start, _ := strconv.ParseUint(f[19], 10, 64)
	ppid, _ := strconv.Atoi(f[1])
	return proc{ticks: u + st, start: start, kthread: ppid == 2}, true
}

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now(), procs: map[int]proc{}}
	ents, _ := ioutil.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			if p, ok := readStat("/proc/" + e.Name() + "/stat"); ok {
				p.kthread = p.kthread || pid == 2
				s.procs[pid] = p
			}
		}
	}
	if p, ok := readStat("/proc/self/stat"); ok {
		s.self = p.ticks
	}
	if b, err := ioutil.ReadFile("/proc/stat"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		for i, x := range f[1:] {
			v, _ := strconv.ParseUint(x, 10, 64)
			s.sysTotal += v
			if i != 3 && i != 4 { // idle, iowait
				s.sysBusy += v
			}
		}
	}
	return s
}

// cpuFields turns two samples into % of one core over the window: the
// servers, this generator, kernel threads and every other process
// ("foreign": other users' jobs, which void a measurement on 2 cores).
func cpuFields(a, b cpuSample, servers []int, ops float64, res map[string]interface{}) {
	win := b.at.Sub(a.at).Seconds()
	pct := func(ticks uint64) float64 { return float64(ticks) / clkTck / win * 100 }
	isServer := map[int]bool{os.Getpid(): true}
	perServer := map[string]float64{}
	var srv float64
	for _, pid := range servers {
		isServer[pid] = true
		if p1, ok := b.procs[pid]; ok {
			if p0, ok := a.procs[pid]; ok && p0.start == p1.start {
				perServer[strconv.Itoa(pid)] = pct(p1.ticks - p0.ticks)
				srv += pct(p1.ticks - p0.ticks)
			}
		}
	}
	var foreign, kthreads uint64
	for pid, p1 := range b.procs {
		if isServer[pid] {
			continue
		}
		d := p1.ticks
		if p0, ok := a.procs[pid]; ok && p0.start == p1.start {
			d -= p0.ticks
		}
		if p1.kthread {
			kthreads += d
		} else {
			foreign += d
		}
	}
	res["cpu_pct_servers"] = perServer
	res["cpu_pct_servers_sum"] = srv
	res["cpu_pct_loadgen"] = pct(b.self - a.self)
	res["cpu_pct_foreign"] = pct(foreign)
	res["cpu_pct_kthreads"] = pct(kthreads)
	if b.sysTotal > a.sysTotal {
		res["cpu_pct_system_busy"] = float64(b.sysBusy-a.sysBusy) / float64(b.sysTotal-a.sysTotal) * 100 * float64(runtime.NumCPU())
	}
	if ops > 0 {
		res["server_cpu_us_per_op"] = srv / 100 / (ops / win) * 1e6
		res["loadgen_cpu_us_per_op"] = pct(b.self-a.self) / 100 / (ops / win) * 1e6
	}
}

// ---- latency summary (the kit's) ----

type latSummary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

func summarize(lat []int64) latSummary {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	s := latSummary{Count: int64(len(lat))}
	if len(lat) == 0 {
		return s
	}
	at := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1)+0.5)]) / 1e3 }
	var sum float64
	for _, v := range lat {
		sum += float64(v)
	}
	s.Mean = sum / float64(len(lat)) / 1e3
	s.P50, s.P90, s.P99, s.P999 = at(0.50), at(0.90), at(0.99), at(0.999)
	s.Max = float64(lat[len(lat)-1]) / 1e3
	return s
}

// ---- the cells ----

func runLoopCell(cfg *config, conns []*conn, val []byte, res map[string]interface{}) error {
	gate := make(chan struct{})
	tStart := time.Now().Add(cfg.warmup)
	tEnd := tStart.Add(cfg.duration)
	var c0, c1 cpuSample
	sampled := make(chan struct{})
	go func() { // sample at the window's edges while the workers run
		time.Sleep(time.Until(tStart))
		c0 = sampleCPU()
		time.Sleep(time.Until(tEnd))
		c1 = sampleCPU()
		close(sampled)
	}()
	ws := closedLoop(cfg, conns, val, tStart, tEnd, gate)
	<-sampled
	var all []int64
	var errs int64
	for _, w := range ws {
		all = append(all, w.lat...)
		errs += w.errs
		if w.firstErr != nil && res["first_error"] == nil {
			res["first_error"] = w.firstErr.Error()
		}
	}
	res["ops"] = len(all)
	res["ops_per_s"] = float64(len(all)) / cfg.duration.Seconds()
	res["errors"] = errs
	res["all"] = summarize(all)
	res["elapsed_s"] = cfg.duration.Seconds()
	cpuFields(c0, c1, cfg.cpuPids, float64(len(all)), res)
	return nil
}

func runWatchCell(cfg *config, conns []*conn, val []byte, res map[string]interface{}) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ws, err := openWatchers(ctx, cfg, conns)
	if err != nil {
		return fmt.Errorf("watch: %v", err)
	}
	wc, err := dialAll(cfg.endpoints, 1) // the writer's own connection, to the leader
	if err != nil {
		return err
	}
	defer wc[0].cc.Close()
	base := time.Now()
	tStart := base.Add(cfg.warmup)
	tEnd := tStart.Add(cfg.duration)
	n := int(cfg.rate*(cfg.warmup+cfg.duration).Seconds()) + 2
	p := &pace{base: base, issued: make([]int64, n), lastMeas: -1}
	var recv sync.WaitGroup
	for _, w := range ws {
		recv.Add(1)
		go w.receive(p, &recv)
	}
	// The writer starts at base, so the warm-up's puts are paced too; the
	// window's CPU is sampled beside it.
	var putLat []int64
	var late int64
	var werr error
	written := make(chan struct{})
	go func() {
		putLat, late, werr = write(cfg, wc[0], p, val, tStart, tEnd)
		close(written)
	}()
	time.Sleep(time.Until(tStart))
	c0 := sampleCPU()
	<-written
	c1 := sampleCPU()
	complete := drain(cfg, ws, p.lastMeas)
	cancel() // ends every stream; receive returns
	recv.Wait()
	var all []int64
	var disorder int64
	for _, w := range ws {
		all = append(all, w.lat...)
		disorder += w.disorder
	}
	puts := p.lastMeas - atomic.LoadInt64(&p.firstMeas) + 1
	if p.lastMeas < 0 {
		puts = 0
	}
	win := c1.at.Sub(c0.at).Seconds()
	res["watchers"] = cfg.watchers
	res["rate"] = cfg.rate
	res["puts"] = puts
	res["puts_per_s"] = float64(puts) / win
	res["puts_late"] = late
	res["put"] = summarize(putLat)
	res["events_expected"] = puts * int64(cfg.watchers)
	res["events_received"] = len(all)
	res["events_disorder"] = disorder
	res["drained"] = complete
	res["ops"] = len(all)
	res["ops_per_s"] = float64(len(all)) / win // events delivered a second
	res["all"] = summarize(all)
	res["elapsed_s"] = win
	res["errors"] = puts*int64(cfg.watchers) - int64(len(all))
	if werr != nil {
		res["first_error"] = "put: " + werr.Error()
	}
	cpuFields(c0, c1, cfg.cpuPids, float64(len(all)), res)
	return nil
}

func parseFlags() *config {
	cfg := &config{}
	eps := flag.String("endpoints", "http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793", "comma-separated client URLs")
	flag.StringVar(&cfg.cell, "cell", "range100", "range100 | txn | watch | preload (only put the range100 keys)")
	flag.StringVar(&cfg.consistency, "consistency", "serializable", "range100: serializable | linearizable")
	flag.IntVar(&cfg.clients, "clients", 1, "range100, txn: requests outstanding (closed loop); also the preload's")
	flag.IntVar(&cfg.conns, "conns", 1, "gRPC connections, the first to the leader, then round-robin over the members")
	flag.IntVar(&cfg.prefixes, "prefixes", 100, "range100: prefixes of 100 keys each (key-NNNNNN00..99)")
	flag.IntVar(&cfg.pairs, "pairs", 10000, "txn: key pairs {key-NNNNNNNN}:a, :b to pick from")
	flag.IntVar(&cfg.valSize, "val-size", 100, "value size in bytes (watch: at least 8)")
	flag.IntVar(&cfg.watchers, "watchers", 1, "watch: watch streams on the one key")
	flag.Float64Var(&cfg.rate, "rate", 100, "watch: puts a second")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured window")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured load before the window")
	flag.DurationVar(&cfg.drain, "drain", 10*time.Second, "watch: how long to wait for the last events")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.BoolVar(&cfg.preload, "preload", false, "range100: put the prefixes' keys first")
	flag.BoolVar(&cfg.compact, "compact", true, "compact to the current revision before the cell")
	pids := flag.String("cpu-pids", "", "comma-separated server PIDs whose CPU is reported")
	flag.StringVar(&cfg.meta, "meta", "", "JSON object whose fields are merged into the RESULT line")
	flag.Int64Var(&cfg.seed, "seed", 1, "random seed")
	flag.Parse()
	cfg.endpoints = strings.Split(*eps, ",")
	for _, s := range strings.Split(*pids, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			cfg.cpuPids = append(cfg.cpuPids, n)
		}
	}
	bad := cfg.clients < 1 || cfg.conns < 1 || cfg.prefixes < 1 || cfg.pairs < 1 ||
		cfg.watchers < 1 || cfg.rate <= 0 || cfg.valSize < 8 ||
		(cfg.consistency != "serializable" && cfg.consistency != "linearizable")
	switch cfg.cell {
	case "range100", "txn", "watch":
	case "preload":
		cfg.preload = true
	default:
		bad = true
	}
	if bad {
		fmt.Fprintln(os.Stderr, "etcd-datamodel: bad arguments (see -h)")
		os.Exit(2)
	}
	return cfg
}

func main() {
	cfg := parseFlags()
	conns, err := dialAll(cfg.endpoints, cfg.conns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd-datamodel: connect:", err)
		os.Exit(1)
	}
	val := value(cfg.valSize, cfg.seed)
	if cfg.preload {
		if err := preload(cfg, conns, val); err != nil {
			fmt.Fprintln(os.Stderr, "etcd-datamodel: preload:", err)
			os.Exit(1)
		}
	}
	if cfg.cell == "preload" {
		return
	}
	if cfg.compact {
		if err := compact(conns[0]); err != nil {
			fmt.Fprintln(os.Stderr, "etcd-datamodel: compact:", err)
			os.Exit(1)
		}
	}
	res := map[string]interface{}{"system": "etcd", "cell": cfg.cell, "op": cfg.cell,
		"clients": cfg.clients, "conns": cfg.conns, "val_size": cfg.valSize,
		"gomaxprocs": runtime.GOMAXPROCS(0)}
	if cfg.cell == "range100" {
		res["consistency"] = cfg.consistency
		res["prefixes"] = cfg.prefixes
	}
	if cfg.cell == "watch" {
		err = runWatchCell(cfg, conns, val, res)
	} else {
		err = runLoopCell(cfg, conns, val, res)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd-datamodel:", err)
		os.Exit(1)
	}
	if cfg.meta != "" {
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(cfg.meta), &m); err != nil {
			fmt.Fprintln(os.Stderr, "etcd-datamodel: -meta:", err)
			os.Exit(2)
		}
		for k, v := range m {
			res[k] = v
		}
	}
	s := res["all"].(latSummary)
	fmt.Fprintf(os.Stderr, "%s clients=%d: %.0f ops/s p50 %.0f us p99 %.0f us, errors %v\n",
		cfg.cell, cfg.clients, res["ops_per_s"], s.P50, s.P99, res["errors"])
	j, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", j)
}
