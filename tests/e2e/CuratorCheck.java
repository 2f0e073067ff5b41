// Apache Curator (Debian's libcurator-*-java 5.4, unchanged) against Synod's
// ZooKeeper port while a replica is killed: LeaderLatch, InterProcessMutex,
// CuratorCache, an InterProcessSemaphoreV2 lease and a PersistentNode
// (protected ephemeral) held by two clients across the kill; before it,
// DistributedAtomicLong and SharedCount.
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
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.zookeeper.CreateMode;
import org.apache.curator.retry.RetryNTimes;

public final class CuratorCheck extends JavaChecks {
  private static final long WAIT_MS = 20000;

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
        waitFor(WAIT_MS, () -> {
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
        waitFor(WAIT_MS, () -> "v0".equals(data(cache.get("/curator/cache/x").orElse(null)))));

    // Counters: version-checked read-modify-write through two clients.
    DistributedAtomicLong n1 = new DistributedAtomicLong(c1, "/curator/atomic",
        new RetryNTimes(50, 10));
    DistributedAtomicLong n2 = new DistributedAtomicLong(c2, "/curator/atomic",
        new RetryNTimes(50, 10));
    for (int i = 0; i < 5; ++i) {
      AtomicValue<Long> v1 = n1.increment();
      AtomicValue<Long> v2 = n2.increment();
      check("atomic increments succeed", v1.succeeded() && v2.succeeded());
    }
    check("atomic long counts every increment", n1.get().postValue() == 10L);
    SharedCount s1 = new SharedCount(c1, "/curator/shared", 0);
    SharedCount s2 = new SharedCount(c2, "/curator/shared", 0);
    s1.start();
    s2.start();
    VersionedValue<Integer> before = s1.getVersionedValue();
    check("shared count set", s1.trySetCount(before, 7));
    check("shared count sees the other client's set", waitFor(WAIT_MS, () -> s2.getCount() == 7));
    check("shared count refuses a stale version", !s2.trySetCount(before, 8));

    // Held across the kill: a semaphore lease and a protected ephemeral.
    InterProcessSemaphoreV2 sem1 = new InterProcessSemaphoreV2(c1, "/curator/sem", 1);
    InterProcessSemaphoreV2 sem2 = new InterProcessSemaphoreV2(c2, "/curator/sem", 1);
    Lease lease = sem1.acquire(WAIT_MS, TimeUnit.MILLISECONDS);
    check("semaphore lease", lease != null);
    PersistentNode member = new PersistentNode(c1, CreateMode.EPHEMERAL, true,
        "/curator/members/one", "m".getBytes());
    member.start();
    check("persistent node created", member.waitForInitialCreate(WAIT_MS, TimeUnit.MILLISECONDS));
    String memberPath = member.getActualPath();

    Files.createFile(ready);
    check("leader replica killed", waitFor(WAIT_MS, () -> Files.exists(killed)));

    // After the kill: writes and reads go on (the clients move to another
    // replica in their sessions), the recipes keep their state.
    c1.setData().forPath("/curator/cache/x", "v1".getBytes());
    check("cache sees a change made after the kill",
        waitFor(WAIT_MS, () -> "v1".equals(data(cache.get("/curator/cache/x").orElse(null)))));
    check("mutex still held after the kill", m1.isAcquiredInThisProcess());
    check("mutex still excludes the other client", !m2.acquire(200, TimeUnit.MILLISECONDS));
    m1.release();
    check("mutex passes to the other client on release", m2.acquire(WAIT_MS, TimeUnit.MILLISECONDS));
    m2.release();
    // A latch gives up leadership while suspended and rejoins on reconnect:
    // whoever leads afterwards, exactly one does.
    check("exactly one latch leads after the kill",
        waitFor(WAIT_MS, () -> l1.hasLeadership() != l2.hasLeadership()));
    check("both latches take part",
        waitFor(WAIT_MS, () -> {
          try {
            return l2.getParticipants().size() == 2;
          } catch (Exception e) {
            return false;
          }
        }));
    check("semaphore lease kept: no second lease",
        sem2.acquire(200, TimeUnit.MILLISECONDS) == null);
    sem1.returnLease(lease);
    Lease lease2 = sem2.acquire(WAIT_MS, TimeUnit.MILLISECONDS);
    check("semaphore lease passes on return", lease2 != null);
    sem2.returnLease(lease2);
    check("protected ephemeral kept, same node, same owner",
        memberPath.equals(member.getActualPath())
            && c2.checkExists().forPath(memberPath) != null
            && c2.checkExists().forPath(memberPath).getEphemeralOwner() == session1);
    c2.delete().forPath("/curator/cache/x");
    check("cache sees a delete", waitFor(WAIT_MS, () -> cache.get("/curator/cache/x").isEmpty()));
    // The cache updates its storage before it calls its listeners.
    waitFor(WAIT_MS, () -> events.contains("deleted /curator/cache/x"));
    System.out.println("cache events: " + events);
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

    member.close();
    s1.close();
    s2.close();
    cache.close();
    l1.close();
    l2.close();
    c1.close();
    c2.close();
    System.out.println("all Curator checks passed");
    System.out.flush();
  }
}
