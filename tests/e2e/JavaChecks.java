// What the Java e2e programs (CuratorCheck, SaslCheck) share, compiled with
// each of them: check() prints a check as it passes and exits 1 at the
// first failure; waitFor() polls a condition for a bounded time. The
// programs extend this class to call both unqualified (a class in the
// unnamed package cannot be imported statically).
import java.util.function.BooleanSupplier;

abstract class JavaChecks {
  protected JavaChecks() {}

  static void check(String what, boolean ok) {
    if (!ok) {
      System.out.println("FAILED: " + what);
      System.out.flush();
      System.exit(1);
    }
    System.out.println("ok: " + what);
    System.out.flush();
  }

  // Polls `cond` every 20 ms until it holds or `waitMs` passed.
  static boolean waitFor(long waitMs, BooleanSupplier cond) throws InterruptedException {
    long deadline = System.currentTimeMillis() + waitMs;
    while (System.currentTimeMillis() < deadline) {
      if (cond.getAsBoolean()) return true;
      Thread.sleep(20);
    }
    return cond.getAsBoolean();
  }
}
