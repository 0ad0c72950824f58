package warrengo

// The six RabbitMQ tutorials' patterns (https://www.rabbitmq.com/getstarted.html,
// Go versions) plus publisher confirms, each asserting what the broker delivered.
// Absence is checked without sleeping: a sentinel published last must be the next
// delivery, so a wrongly routed message would have arrived before it.

import (
	"strconv"
	"sync"
	"testing"
)

func TestHelloWorld(t *testing.T) {
	ch := openChannel(t, dial(t))
	queue := declareQueue(t, ch, unique("go.hello"), false)
	publish(t, ch, "", queue, "Hello World!")
	got := receive(t, consume(t, ch, queue, true), 1)[0]
	if string(got.Body) != "Hello World!" || got.ContentType != "text/plain" || got.Redelivered {
		t.Fatalf("got body %q content-type %q redelivered %v", got.Body, got.ContentType, got.Redelivered)
	}
}

// TestWorkQueuePrefetchOne: a worker holding an unacked task under prefetch 1 gets
// no other task; the second worker gets them all, and the held task comes back to
// it, flagged redelivered, when the first worker's channel closes without an ack.
func TestWorkQueuePrefetchOne(t *testing.T) {
	conn := dial(t)
	setup := openChannel(t, conn)
	queue := unique("go.task_queue")
	_, err := setup.QueueDeclare(queue, true, false, false, false, nil)
	must(t, err, "declare durable queue")
	t.Cleanup(func() { deleteQueue(queue) })

	busy := openChannel(t, conn)
	must(t, busy.Qos(1, 0, false), "basic.qos 1")
	publishPersistent(t, setup, queue, "task 0")
	held := receive(t, consume(t, busy, queue, false), 1)[0]

	idle := openChannel(t, conn)
	must(t, idle.Qos(1, 0, false), "basic.qos 1")
	idleDeliveries := consume(t, idle, queue, false)
	for i := 1; i <= 5; i++ {
		publishPersistent(t, setup, queue, "task "+strconv.Itoa(i))
	}
	var fresh []string
	for len(fresh) < 5 {
		d := receive(t, idleDeliveries, 1)[0]
		if d.Redelivered || d.DeliveryMode != Persistent {
			t.Fatalf("task %q: redelivered %v, delivery mode %d", d.Body, d.Redelivered, d.DeliveryMode)
		}
		fresh = append(fresh, string(d.Body))
		must(t, d.Ack(false), "basic.ack")
	}
	if want := []string{"task 1", "task 2", "task 3", "task 4", "task 5"}; !equal(fresh, want) {
		t.Fatalf("the idle worker got %v, want %v (the busy one has %q unacked)", fresh, want, held.Body)
	}

	must(t, busy.Close(), "close the busy worker's channel without acking")
	back := receive(t, idleDeliveries, 1)[0]
	if string(back.Body) != "task 0" || !back.Redelivered {
		t.Fatalf("after the busy worker left, got %q redelivered=%v, want \"task 0\" redelivered", back.Body, back.Redelivered)
	}
	must(t, back.Ack(false), "basic.ack")
	state, err := setup.QueueInspect(queue)
	must(t, err, "queue.declare passive")
	if state.Messages != 0 || state.Consumers != 1 {
		t.Fatalf("queue holds %d messages and %d consumers, want 0 and 1", state.Messages, state.Consumers)
	}
}

// TestWorkQueueSharedByWorkers: two acking workers with prefetch 1 share the tasks,
// each task done exactly once.
func TestWorkQueueSharedByWorkers(t *testing.T) {
	conn := dial(t)
	setup := openChannel(t, conn)
	queue := declareQueue(t, setup, unique("go.task_queue"), false)
	const tasks = 40
	done := make(chan string, tasks)
	counts := make([]int, 2)
	var workers sync.WaitGroup
	for w := range counts {
		ch := openChannel(t, conn)
		must(t, ch.Qos(1, 0, false), "basic.qos 1")
		deliveries := consume(t, ch, queue, false)
		workers.Add(1)
		go func(w int) {
			defer workers.Done()
			for d := range deliveries {
				counts[w]++
				done <- string(d.Body)
				if d.Ack(false) != nil {
					return
				}
			}
		}(w)
	}
	for i := 0; i < tasks; i++ {
		publishPersistent(t, setup, queue, "task "+strconv.Itoa(i))
	}
	seen := map[string]bool{}
	for _, body := range bodiesOf(t, done, tasks) {
		if seen[body] {
			t.Fatalf("task %q done twice", body)
		}
		seen[body] = true
	}
	conn.Close()
	workers.Wait()
	if counts[0] == 0 || counts[1] == 0 {
		t.Fatalf("the work was not shared: worker tasks %v", counts)
	}
	t.Logf("tasks per worker: %v", counts)
}

func TestPublishSubscribe(t *testing.T) {
	ch := openChannel(t, dial(t))
	logs := declareExchange(t, ch, unique("go.logs"), "fanout")
	var subscribers []<-chan Delivery
	for i := 0; i < 2; i++ {
		queue := declareQueue(t, ch, "", true)
		must(t, ch.QueueBind(queue, "", logs, false, nil), "queue.bind")
		subscribers = append(subscribers, consume(t, ch, queue, true))
	}
	lines := []string{"info: one", "warning: two", "error: three"}
	for _, line := range lines {
		publish(t, ch, logs, "ignored.by.fanout", line)
	}
	for i, deliveries := range subscribers {
		if got := bodies(receive(t, deliveries, len(lines))); !equal(got, lines) {
			t.Fatalf("subscriber %d got %v, want %v", i, got, lines)
		}
	}
}

func TestRouting(t *testing.T) {
	ch := openChannel(t, dial(t))
	logs := declareExchange(t, ch, unique("go.direct_logs"), "direct")
	errorsOnly := bindQueue(t, ch, logs, "error")
	everything := bindQueue(t, ch, logs, "info", "warning", "error")
	for _, severity := range []string{"info", "warning", "error", "debug", "error"} {
		publish(t, ch, logs, severity, severity)
	}
	expectKeys(t, errorsOnly, "error", "error")
	expectKeys(t, everything, "info", "warning", "error", "error")
}

func TestTopics(t *testing.T) {
	ch := openChannel(t, dial(t))
	logs := declareExchange(t, ch, unique("go.topic_logs"), "topic")
	orange := bindQueue(t, ch, logs, "*.orange.*")
	lazyRabbits := bindQueue(t, ch, logs, "*.*.rabbit", "lazy.#")
	for _, key := range []string{
		"quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox", "lazy.brown.fox",
		"lazy.pink.rabbit", "quick.brown.fox", "quick.orange.male.rabbit",
		"lazy.orange.male.rabbit", "lazy", "end.orange.end", "lazy.end",
	} {
		publish(t, ch, logs, key, key)
	}
	expectKeys(t, orange, "quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox", "end.orange.end")
	expectKeys(t, lazyRabbits, "quick.orange.rabbit", "lazy.orange.elephant", "lazy.brown.fox",
		"lazy.pink.rabbit", "lazy.orange.male.rabbit", "lazy", "lazy.end")
}

// TestRPC: a Fibonacci server on a named queue, a client with an exclusive
// callback queue matching replies by correlation id.
func TestRPC(t *testing.T) {
	conn := dial(t)
	serverCh := openChannel(t, conn)
	rpcQueue := declareQueue(t, serverCh, unique("go.rpc_queue"), false)
	must(t, serverCh.Qos(1, 0, false), "basic.qos 1")
	go serveFibonacci(serverCh, consume(t, serverCh, rpcQueue, false))

	client := openChannel(t, conn)
	callback := declareQueue(t, client, "", true)
	replies := consume(t, client, callback, true)
	want := map[string]int{}
	for n := 0; n <= 20; n++ {
		id := unique("corr")
		want[id] = fib(n)
		err := client.Publish("", rpcQueue, false, false, Publishing{
			ContentType: "text/plain", CorrelationId: id, ReplyTo: callback, Body: []byte(strconv.Itoa(n)),
		})
		must(t, err, "publish request")
	}
	for _, reply := range receive(t, replies, len(want)) {
		expected, known := want[reply.CorrelationId]
		if !known {
			t.Fatalf("reply with unknown correlation id %q", reply.CorrelationId)
		}
		if got, _ := strconv.Atoi(string(reply.Body)); got != expected {
			t.Fatalf("reply %s: got %q, want %d", reply.CorrelationId, reply.Body, expected)
		}
		delete(want, reply.CorrelationId)
	}
}

// TestPublisherConfirms: every publish is confirmed in order, and a mandatory
// unroutable one is returned (312 NO_ROUTE) before its ack.
func TestPublisherConfirms(t *testing.T) {
	ch := openChannel(t, dial(t))
	queue := declareQueue(t, ch, unique("go.confirms"), false)
	must(t, ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan Confirmation, 128))
	returns := ch.NotifyReturn(make(chan Return, 1))
	const count = 100
	for i := 0; i < count; i++ {
		publishPersistent(t, ch, queue, "confirmed "+strconv.Itoa(i))
	}
	err := ch.Publish("", unique("go.nobody"), true, false, Publishing{Body: []byte("lost")})
	must(t, err, "mandatory publish")
	for tag := uint64(1); tag <= count+1; tag++ {
		select {
		case c := <-confirms:
			if c.DeliveryTag != tag || !c.Ack {
				t.Fatalf("confirm %d: got tag %d ack %v", tag, c.DeliveryTag, c.Ack)
			}
		case <-timeoutAfterWait():
			t.Fatalf("no confirm for publish %d", tag)
		}
	}
	select {
	case r := <-returns:
		if r.ReplyCode != 312 || r.ReplyText != "NO_ROUTE" || string(r.Body) != "lost" {
			t.Fatalf("return: %d %q body %q", r.ReplyCode, r.ReplyText, r.Body)
		}
	default:
		t.Fatal("the unroutable mandatory message was confirmed but not returned")
	}
	state, err := ch.QueueInspect(queue)
	must(t, err, "queue.declare passive")
	if state.Messages != count {
		t.Fatalf("queue holds %d messages, want %d", state.Messages, count)
	}
}
