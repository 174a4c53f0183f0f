#include <stdio.h>
int main(void)
{
    puts("certgate");
    return 0;
}
