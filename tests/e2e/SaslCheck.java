// ZooKeeper's own Java client (Debian's zookeeper.jar, unchanged) doing
// SASL DIGEST-MD5 against Synod's ZooKeeper port, users from the replicas'
// --zk_sasl_users, the client's credentials from the JAAS file given with
// -Djava.security.auth.login.config (sections Alice, WrongAlice, Bob, Root).
//
// Usage: java -Djava.security.auth.login.config=JAAS SaslCheck HOST_A HOST_B
// alice (on A) creates a node with ACL sasl:alice:cdrwa and reads it; alice
// on B reads it too; an anonymous client, a digest client and bob (a SASL
// user, another one) get NoAuth; root (--zk_sasl_superuser) reads it; alice
// with a wrong password gets AuthFailed. Prints each check as it passes;
// exits 1 at the first failure.
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;

public final class SaslCheck extends JavaChecks {
  private static final long WAIT_MS = 10000;
  private static final String PATH = "/sasl-check";

  // A client of `host`; `section` names its JAAS credentials, null: no SASL.
  // Its connection states go to `states`.
  private static ZooKeeper connect(String host, String section, List<KeeperState> states)
      throws Exception {
    ZKClientConfig config = new ZKClientConfig();
    config.setProperty(ZKClientConfig.ENABLE_CLIENT_SASL_KEY, section != null ? "true" : "false");
    if (section != null) config.setProperty(ZKClientConfig.LOGIN_CONTEXT_NAME_KEY, section);
    return new ZooKeeper(host, 10000, e -> states.add(e.getState()), config);
  }

  private static ZooKeeper authenticated(String host, String section) throws Exception {
    List<KeeperState> states = new CopyOnWriteArrayList<>();
    ZooKeeper zk = connect(host, section, states);
    check(section + " on " + host + " authenticated by SASL",
        waitFor(WAIT_MS, () -> states.contains(KeeperState.SaslAuthenticated)));
    return zk;
  }

  private static boolean noAuth(ZooKeeper zk) throws Exception {
    try {
      zk.getData(PATH, false, null);
      return false;
    } catch (KeeperException.NoAuthException e) {
      return true;
    }
  }

  public static void main(String[] args) throws Exception {
    String a = args[0];
    String b = args[1];

    ZooKeeper alice = authenticated(a, "Alice");
    boolean sasl = false;
    for (ClientInfo info : alice.whoAmI()) {
      sasl |= info.getAuthScheme().equals("sasl") && info.getUser().equals("alice");
    }
    check("whoAmI shows sasl:alice", sasl);
    // A mutable list: the client's validateACL asks it whether it holds null.
    List<ACL> acl = new ArrayList<>(List.of(new ACL(ZooDefs.Perms.ALL, new Id("sasl", "alice"))));
    alice.create(PATH, "secret".getBytes(), acl, CreateMode.PERSISTENT);
    check("alice reads her node", new String(alice.getData(PATH, false, null)).equals("secret"));
    check("the node's ACL is sasl:alice:cdrwa", alice.getACL(PATH, null).equals(acl));

    ZooKeeper aliceB = authenticated(b, "Alice");
    aliceB.sync(PATH, null, null);
    check("alice reads it on the other replica",
        new String(aliceB.getData(PATH, false, null)).equals("secret"));

    ZooKeeper anonymous = connect(b, null, new CopyOnWriteArrayList<>());
    check("an anonymous client gets NoAuth", noAuth(anonymous));
    ZooKeeper digest = connect(b, null, new CopyOnWriteArrayList<>());
    digest.addAuthInfo("digest", "alice:alice-secret".getBytes());
    check("a digest client named alice gets NoAuth", noAuth(digest));
    ZooKeeper bob = authenticated(a, "Bob");
    check("bob (another SASL user) gets NoAuth", noAuth(bob));
    ZooKeeper root = authenticated(b, "Root");
    check("root (the SASL superuser) reads it",
        new String(root.getData(PATH, false, null)).equals("secret"));

    List<KeeperState> wrongStates = new CopyOnWriteArrayList<>();
    ZooKeeper wrong = connect(a, "WrongAlice", wrongStates);
    check("alice with a wrong password gets AuthFailed",
        waitFor(WAIT_MS, () -> wrongStates.contains(KeeperState.AuthFailed)));
    check("and is never authenticated", !wrongStates.contains(KeeperState.SaslAuthenticated));
    boolean refused;
    try {
      wrong.getData(PATH, false, null);
      refused = false;
    } catch (KeeperException e) {
      refused = true;
    }
    check("and cannot read the node", refused);

    alice.delete(PATH, -1);
    for (ZooKeeper zk : List.of(alice, aliceB, anonymous, digest, bob, root, wrong)) zk.close();
    System.out.println("SaslCheck passed");
  }
}
