/** Whether `a` and `b` are the same text, compared in constant time over their SHA-256 digests. */
export declare function safeEqual(a: string, b: string): boolean
/** Whether `email` and `password` are the admin's (ADMIN_EMAIL, ADMIN_PASSWORD); false when either is unset. */
export declare function checkAdminLogin(email: string, password: string, env?: Record<string, string | undefined>): boolean
