package org.hpunedge.demo.core;

/** A failure with a message meant for the user (one line, names what went wrong). */
public class UpscaleException extends Exception {
    public UpscaleException(String message) {
        super(message);
    }

    public UpscaleException(String message, Throwable cause) {
        super(message, cause);
    }
}
