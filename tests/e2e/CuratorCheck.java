// Apache Curator (Debian's libcurator-*-java 5.4, unchanged) against Synod's
// ZooKeeper port while a replica is killed: LeaderLatch, InterProcessMutex
// and CuratorCache held by two clients across the kill.
//
// Usage: java CuratorCheck CONNECT_STRING READY_FILE KILLED_FILE
// Creates READY_FILE once every recipe is set up, then waits (bounded) for
// KILLED_FILE, which the test creates after killing the leader replica.
// Prints each check as it passes; exits 1 at the first failure.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryNTimes;

public final class CuratorCheck {
  private static final long WAIT_MS = 20000;

  private static void check(String what, boolean ok) {
    if (!ok) {
      System.out.println("FAILED: " + what);
      System.out.flush();
      System.exit(1);
    }
    System.out.println("ok: " + what);
    System.out.flush();
  }

  // Polls `cond` every 20 ms until it holds or WAIT_MS passed.
  private static boolean waitFor(BooleanSupplier cond) throws InterruptedException {
    long deadline = System.currentTimeMillis() + WAIT_MS;
    while (System.currentTimeMillis() < deadline) {
      if (cond.getAsBoolean()) return true;
      Thread.sleep(20);
    }
    return cond.getAsBoolean();
  }

  private static CuratorFramework client(String hosts, List<ConnectionState> states)
      throws InterruptedException {
    CuratorFramework c = CuratorFrameworkFactory.builder()
                             .connectString(hosts)
                             .sessionTimeoutMs(15000)
                             .connectionTimeoutMs(10000)
                             .retryPolicy(new RetryNTimes(50, 200))
                             .build();
    c.getConnectionStateListenable().addListener((cl, state) -> states.add(state));
    c.start();
    check("client connected", c.blockUntilConnected(15, TimeUnit.SECONDS));
    return c;
  }

  private static String data(ChildData d) {
    return d == null || d.getData() == null ? null : new String(d.getData());
  }

  public static void main(String[] args) throws Exception {
    String hosts = args[0];
    Path ready = Path.of(args[1]);
    Path killed = Path.of(args[2]);
    List<ConnectionState> states1 = new CopyOnWriteArrayList<>();
    List<ConnectionState> states2 = new CopyOnWriteArrayList<>();
    CuratorFramework c1 = client(hosts, states1);
    CuratorFramework c2 = client(hosts, states2);
    long session1 = c1.getZookeeperClient().getZooKeeper().getSessionId();
    long session2 = c2.getZookeeperClient().getZooKeeper().getSessionId();

    // LeaderLatch: one of two leads.
    LeaderLatch l1 = new LeaderLatch(c1, "/curator/latch", "one");
    LeaderLatch l2 = new LeaderLatch(c2, "/curator/latch", "two");
    l1.start();
    check("latch one leads", l1.await(WAIT_MS, TimeUnit.MILLISECONDS));
    l2.start();
    check("latch two joins and does not lead",
        waitFor(() -> {
          try {
            return l1.getParticipants().size() == 2;
          } catch (Exception e) {
            return false;
          }
        }) && !l2.hasLeadership());

    // InterProcessMutex: held by one client.
    InterProcessMutex m1 = new InterProcessMutex(c1, "/curator/mutex");
    InterProcessMutex m2 = new InterProcessMutex(c2, "/curator/mutex");
    check("mutex acquired", m1.acquire(WAIT_MS, TimeUnit.MILLISECONDS));
    check("mutex excludes the other client", !m2.acquire(200, TimeUnit.MILLISECONDS));

    // CuratorCache: sees another client's writes.
    List<String> events = new CopyOnWriteArrayList<>();
    CuratorCache cache = CuratorCache.build(c2, "/curator/cache");
    cache.listenable().addListener(CuratorCacheListener.builder()
                                       .forCreates(n -> events.add("created " + n.getPath()))
                                       .forChanges((o, n) -> events.add("changed " + data(n)))
                                       .forDeletes(o -> events.add("deleted " + o.getPath()))
                                       .build());
    cache.start();
    c1.create().creatingParentsIfNeeded().forPath("/curator/cache/x", "v0".getBytes());
    check("cache sees a create",
        waitFor(() -> "v0".equals(data(cache.get("/curator/cache/x").orElse(null)))));

    Files.createFile(ready);
    check("leader replica killed", waitFor(() -> Files.exists(killed)));

    // After the kill: writes and reads go on (the clients move to another
    // replica in their sessions), the recipes keep their state.
    c1.setData().forPath("/curator/cache/x", "v1".getBytes());
    check("cache sees a change made after the kill",
        waitFor(() -> "v1".equals(data(cache.get("/curator/cache/x").orElse(null)))));
    check("mutex still held after the kill", m1.isAcquiredInThisProcess());
    check("mutex still excludes the other client", !m2.acquire(200, TimeUnit.MILLISECONDS));
    m1.release();
    check("mutex passes to the other client on release", m2.acquire(WAIT_MS, TimeUnit.MILLISECONDS));
    m2.release();
    // A latch gives up leadership while suspended and rejoins on reconnect:
    // whoever leads afterwards, exactly one does.
    check("exactly one latch leads after the kill",
        waitFor(() -> l1.hasLeadership() != l2.hasLeadership()));
    check("both latches take part",
        waitFor(() -> {
          try {
            return l2.getParticipants().size() == 2;
          } catch (Exception e) {
            return false;
          }
        }));
    c2.delete().forPath("/curator/cache/x");
    check("cache sees a delete", waitFor(() -> cache.get("/curator/cache/x").isEmpty()));
    check("cache events in order",
        events.equals(List.of("created /curator/cache", "created /curator/cache/x",
                              "changed v1", "deleted /curator/cache/x"))
            || events.equals(List.of("created /curator/cache/x", "changed v1",
                                     "deleted /curator/cache/x")));
    System.out.println("connection states: " + states1 + " / " + states2);
    check("no session was lost",
        !states1.contains(ConnectionState.LOST) && !states2.contains(ConnectionState.LOST)
            && c1.getZookeeperClient().getZooKeeper().getSessionId() == session1
            && c2.getZookeeperClient().getZooKeeper().getSessionId() == session2);

    cache.close();
    l1.close();
    l2.close();
    c1.close();
    c2.close();
    System.out.println("all Curator checks passed");
    System.out.flush();
  }
}
