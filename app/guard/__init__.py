"""The guard: signals of every sign-in, gallery page, preview and download; rules that
score accounts, devices and networks over sliding windows; and the response ladder
(log, notice, step-up, block, revoke) that answers shared and traded family logins."""
