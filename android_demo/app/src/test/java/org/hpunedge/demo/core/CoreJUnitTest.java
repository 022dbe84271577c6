package org.hpunedge.demo.core;

import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.List;

import org.junit.Test;

/** `gradle test`: the same core tests that scripts/run_core_tests.sh runs without Gradle. */
public class CoreJUnitTest {
    @Test
    public void coreTestsPass() throws Exception {
        List<String> failed = CoreTests.runAll(new File(System.getProperty("hpun.golden", "../demo_golden")));
        assertTrue(String.join("\n", failed), failed.isEmpty());
    }
}
