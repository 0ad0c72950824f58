// The six RabbitMQ tutorials (https://www.rabbitmq.com/getstarted.html, Java
// versions) against the broker, with Debian's RabbitMQ Java client, each
// asserting what it received. Prints "ok - <name>" or "FAIL - <name>: <why>"
// per tutorial and "N passed, N failed" at the end; exits 1 on any failure.
//
//   javac -cp /usr/share/java/amqp-client.jar -d out Tutorials.java
//   java -cp out:/usr/share/java/amqp-client.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar Tutorials
//
// The broker comes from WARREN_AMQP_HOST / WARREN_AMQP_PORT (default 127.0.0.1:5672).

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.Delivery;
import com.rabbitmq.client.MessageProperties;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

public final class Tutorials {
    /** How long any one wait for the broker may take, in seconds. */
    private static final int WAIT_SECONDS = 10;

    private final ConnectionFactory factory = new ConnectionFactory();

    private Tutorials() {
        factory.setHost(env("WARREN_AMQP_HOST", "127.0.0.1"));
        factory.setPort(Integer.parseInt(env("WARREN_AMQP_PORT", "5672")));
        factory.setUsername("guest");
        factory.setPassword("guest");
        factory.setConnectionTimeout(WAIT_SECONDS * 1000);
        factory.setAutomaticRecoveryEnabled(false);
    }

    /** One tutorial: throws on a wrong result. */
    private interface Check {
        void run() throws Exception;
    }

    public static void main(String[] args) {
        Tutorials t = new Tutorials();
        System.out.println("RabbitMQ Java client " + ConnectionFactory.class.getPackage().getImplementationVersion()
                + ", broker " + t.factory.getHost() + ":" + t.factory.getPort());
        Map<String, Check> checks = new java.util.LinkedHashMap<>();
        checks.put("1 hello world", t::helloWorld);
        checks.put("2 work queues: prefetch 1 and redelivery", t::workQueuePrefetch);
        checks.put("2 work queues: tasks shared by two workers", t::workQueueShared);
        checks.put("3 publish/subscribe", t::publishSubscribe);
        checks.put("4 routing", t::routing);
        checks.put("5 topics", t::topics);
        checks.put("6 RPC", t::rpc);
        int passed = 0;
        int failed = 0;
        for (Map.Entry<String, Check> check : checks.entrySet()) {
            try {
                check.getValue().run();
                System.out.println("ok - " + check.getKey());
                passed++;
            } catch (Throwable e) {
                System.out.println("FAIL - " + check.getKey() + ": " + e);
                failed++;
            }
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    private void helloWorld() throws Exception {
        String queue = unique("java.hello");
        Connection connection = factory.newConnection();
        try {
            Channel channel = connection.createChannel();
            channel.queueDeclare(queue, false, false, false, null);
            channel.basicPublish("", queue, null, "Hello World!".getBytes(StandardCharsets.UTF_8));
            BlockingQueue<Delivery> received = consume(channel, queue, true);
            Delivery delivery = next(received, "the hello message");
            check(text(delivery).equals("Hello World!"), "body " + text(delivery));
            check(!delivery.getEnvelope().isRedeliver(), "not redelivered");
            channel.queueDelete(queue);
        } finally {
            connection.close();
        }
        check(connection.getCloseReason().isInitiatedByApplication(), "a clean close: " + connection.getCloseReason());
    }

    /**
     * A worker holding an unacked task under prefetch 1 gets nothing else; the
     * other worker gets every later task, then the held one, redelivered, once
     * the first worker's channel closes without acking.
     */
    private void workQueuePrefetch() throws Exception {
        String queue = unique("java.task_queue");
        try (Connection connection = factory.newConnection()) {
            Channel setup = connection.createChannel();
            setup.queueDeclare(queue, true, false, false, null);
            Channel busy = connection.createChannel();
            busy.basicQos(1);
            setup.basicPublish("", queue, MessageProperties.PERSISTENT_TEXT_PLAIN, bytes("task 0"));
            next(consume(busy, queue, false), "the first task");

            Channel idle = connection.createChannel();
            idle.basicQos(1);
            BlockingQueue<Delivery> idleTasks = consume(idle, queue, false);
            for (int i = 1; i <= 5; i++) {
                setup.basicPublish("", queue, MessageProperties.PERSISTENT_TEXT_PLAIN, bytes("task " + i));
            }
            List<String> done = new ArrayList<>();
            for (int i = 1; i <= 5; i++) {
                Delivery task = next(idleTasks, "task " + i);
                check(!task.getEnvelope().isRedeliver(), "fresh task " + text(task));
                check(task.getProperties().getDeliveryMode() == 2, "persistent task " + text(task));
                done.add(text(task));
                idle.basicAck(task.getEnvelope().getDeliveryTag(), false);
            }
            check(done.equals(Arrays.asList("task 1", "task 2", "task 3", "task 4", "task 5")),
                    "the idle worker got " + done);
            busy.close();
            Delivery back = next(idleTasks, "the held task, redelivered");
            check(text(back).equals("task 0") && back.getEnvelope().isRedeliver(),
                    "got " + text(back) + " redelivered=" + back.getEnvelope().isRedeliver());
            idle.basicAck(back.getEnvelope().getDeliveryTag(), false);
            AMQP.Queue.DeclareOk state = setup.queueDeclarePassive(queue);
            check(state.getMessageCount() == 0, state.getMessageCount() + " messages left");
            setup.queueDelete(queue);
        }
    }

    /** Two acking workers with prefetch 1 share 40 tasks, each done exactly once. */
    private void workQueueShared() throws Exception {
        String queue = unique("java.task_queue");
        try (Connection connection = factory.newConnection()) {
            Channel setup = connection.createChannel();
            setup.queueDeclare(queue, true, false, false, null);
            BlockingQueue<String> done = new LinkedBlockingQueue<>();
            AtomicIntegerArray perWorker = new AtomicIntegerArray(2);
            for (int w = 0; w < 2; w++) {
                Channel channel = connection.createChannel();
                channel.basicQos(1);
                int worker = w;
                channel.basicConsume(queue, false, (tag, delivery) -> {
                    perWorker.incrementAndGet(worker);
                    done.add(text(delivery));
                    channel.basicAck(delivery.getEnvelope().getDeliveryTag(), false);
                }, tag -> { });
            }
            int tasks = 40;
            for (int i = 0; i < tasks; i++) {
                setup.basicPublish("", queue, MessageProperties.PERSISTENT_TEXT_PLAIN, bytes("task " + i));
            }
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < tasks; i++) {
                String task = done.poll(WAIT_SECONDS, TimeUnit.SECONDS);
                check(task != null, "timed out after " + i + " of " + tasks + " tasks");
                check(seen.add(task), task + " done twice");
            }
            check(perWorker.get(0) > 0 && perWorker.get(1) > 0, "work not shared: " + perWorker);
            setup.queueDelete(queue);
        }
    }

    private void publishSubscribe() throws Exception {
        String exchange = unique("java.logs");
        try (Connection connection = factory.newConnection()) {
            Channel channel = connection.createChannel();
            channel.exchangeDeclare(exchange, BuiltinExchangeType.FANOUT);
            List<BlockingQueue<Delivery>> subscribers = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                String queue = channel.queueDeclare().getQueue();
                channel.queueBind(queue, exchange, "");
                subscribers.add(consume(channel, queue, true));
            }
            List<String> lines = Arrays.asList("info: one", "warning: two", "error: three");
            for (String line : lines) {
                channel.basicPublish(exchange, "", null, bytes(line));
            }
            for (BlockingQueue<Delivery> subscriber : subscribers) {
                List<String> got = new ArrayList<>();
                for (String line : lines) {
                    got.add(text(next(subscriber, line)));
                }
                check(got.equals(lines), "a subscriber got " + got);
            }
            channel.exchangeDelete(exchange);
        }
    }

    /** The last message of each run is routed to every queue: a misrouted one would come before it. */
    private void routing() throws Exception {
        String exchange = unique("java.direct_logs");
        try (Connection connection = factory.newConnection()) {
            Channel channel = connection.createChannel();
            channel.exchangeDeclare(exchange, BuiltinExchangeType.DIRECT);
            BlockingQueue<Delivery> errors = bindQueue(channel, exchange, "error");
            BlockingQueue<Delivery> all = bindQueue(channel, exchange, "info", "warning", "error");
            for (String severity : Arrays.asList("info", "warning", "error", "debug", "error")) {
                channel.basicPublish(exchange, severity, null, bytes(severity));
            }
            expectKeys(errors, "error", "error");
            expectKeys(all, "info", "warning", "error", "error");
            channel.exchangeDelete(exchange);
        }
    }

    private void topics() throws Exception {
        String exchange = unique("java.topic_logs");
        try (Connection connection = factory.newConnection()) {
            Channel channel = connection.createChannel();
            channel.exchangeDeclare(exchange, BuiltinExchangeType.TOPIC);
            BlockingQueue<Delivery> orange = bindQueue(channel, exchange, "*.orange.*");
            BlockingQueue<Delivery> lazy = bindQueue(channel, exchange, "*.*.rabbit", "lazy.#");
            for (String key : Arrays.asList("quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox",
                    "lazy.brown.fox", "lazy.pink.rabbit", "quick.brown.fox", "quick.orange.male.rabbit",
                    "lazy.orange.male.rabbit", "lazy", "end.orange.end", "lazy.end")) {
                channel.basicPublish(exchange, key, null, bytes(key));
            }
            expectKeys(orange, "quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox", "end.orange.end");
            expectKeys(lazy, "quick.orange.rabbit", "lazy.orange.elephant", "lazy.brown.fox", "lazy.pink.rabbit",
                    "lazy.orange.male.rabbit", "lazy", "lazy.end");
            channel.exchangeDelete(exchange);
        }
    }

    /** The tutorial's Fibonacci RPC server and a client matching replies by correlation id. */
    private void rpc() throws Exception {
        String rpcQueue = unique("java.rpc_queue");
        try (Connection connection = factory.newConnection()) {
            Channel server = connection.createChannel();
            server.queueDeclare(rpcQueue, false, false, false, null);
            server.queuePurge(rpcQueue);
            server.basicQos(1);
            server.basicConsume(rpcQueue, false, (tag, request) -> {
                AMQP.BasicProperties replyProps = new AMQP.BasicProperties.Builder()
                        .correlationId(request.getProperties().getCorrelationId()).build();
                int n = Integer.parseInt(text(request));
                server.basicPublish("", request.getProperties().getReplyTo(), replyProps, bytes(String.valueOf(fib(n))));
                server.basicAck(request.getEnvelope().getDeliveryTag(), false);
            }, tag -> { });

            Channel client = connection.createChannel();
            String replyQueue = client.queueDeclare().getQueue();
            BlockingQueue<Delivery> replies = consume(client, replyQueue, true);
            Map<String, Integer> expected = new HashMap<>();
            for (int n = 0; n <= 20; n++) {
                String id = UUID.randomUUID().toString();
                expected.put(id, fib(n));
                AMQP.BasicProperties props = new AMQP.BasicProperties.Builder()
                        .correlationId(id).replyTo(replyQueue).build();
                client.basicPublish("", rpcQueue, props, bytes(String.valueOf(n)));
            }
            while (!expected.isEmpty()) {
                Delivery reply = next(replies, expected.size() + " more replies");
                Integer want = expected.remove(reply.getProperties().getCorrelationId());
                check(want != null, "reply with unknown correlation id " + reply.getProperties().getCorrelationId());
                check(text(reply).equals(String.valueOf(want)), "fib reply " + text(reply) + ", want " + want);
            }
            server.queueDelete(rpcQueue);
        }
    }

    private static int fib(int n) {
        return n < 2 ? n : fib(n - 1) + fib(n - 2);
    }

    /** An exclusive server-named queue bound with each key, consumed with auto-ack. */
    private static BlockingQueue<Delivery> bindQueue(Channel channel, String exchange, String... keys) throws Exception {
        String queue = channel.queueDeclare().getQueue();
        for (String key : keys) {
            channel.queueBind(queue, exchange, key);
        }
        return consume(channel, queue, true);
    }

    private static void expectKeys(BlockingQueue<Delivery> deliveries, String... keys) throws Exception {
        List<String> got = new ArrayList<>();
        for (String key : keys) {
            got.add(next(deliveries, "a message routed by " + key).getEnvelope().getRoutingKey());
        }
        check(got.equals(Arrays.asList(keys)), "routing keys " + got + ", want " + Arrays.asList(keys));
    }

    private static BlockingQueue<Delivery> consume(Channel channel, String queue, boolean autoAck) throws Exception {
        BlockingQueue<Delivery> received = new LinkedBlockingQueue<>();
        channel.basicConsume(queue, autoAck, (tag, delivery) -> received.add(delivery), tag -> { });
        return received;
    }

    private static Delivery next(BlockingQueue<Delivery> received, String what) throws InterruptedException {
        Delivery delivery = received.poll(WAIT_SECONDS, TimeUnit.SECONDS);
        check(delivery != null, "timed out waiting for " + what);
        return delivery;
    }

    private static void check(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    private static String text(Delivery delivery) {
        return new String(delivery.getBody(), StandardCharsets.UTF_8);
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static String unique(String prefix) {
        return prefix + "." + UUID.randomUUID().toString().substring(0, 12);
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }
}
